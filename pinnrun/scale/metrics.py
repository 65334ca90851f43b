"""Speedup and parallel efficiency from measured times per step.

Both come from throughput (global points per second) relative to the smallest
size that finished, k0 (normally 1 rank): speedup = k0 * throughput_k /
throughput_k0, ideal = k; efficiency = speedup / k. That is t_k0 / t_k for
weak scaling (points per rank fixed) and k0 t_k0 / (k t_k) for strong scaling
(global points fixed), the usual definitions when k0 = 1.
"""

from __future__ import annotations


def speedup(mode: str, k: int, t_k: float, k0: int, t_k0: float) -> float:
    if mode == "weak":
        return k * t_k0 / t_k
    if mode == "strong":
        return k0 * t_k0 / t_k
    raise ValueError(f"unknown scaling mode '{mode}' (weak, strong)")


def efficiency(mode: str, k: int, t_k: float, k0: int, t_k0: float) -> float:
    return speedup(mode, k, t_k, k0, t_k0) / k


def add_speedups(mode: str, rows: list[dict]) -> list[dict]:
    """Fill speedup and efficiency of the finished rows, relative to the smallest finished one."""
    done = [r for r in rows if r.get("seconds_per_step")]
    if not done:
        return rows
    base = min(done, key=lambda r: r["ranks"])
    for r in done:
        r["speedup"] = speedup(mode, r["ranks"], r["seconds_per_step"], base["ranks"], base["seconds_per_step"])
        r["efficiency"] = r["speedup"] / r["ranks"]
        r["relative_to"] = base["ranks"]
    return rows
