#!/usr/bin/env python
"""Memory of one rank against its points, whole or in micro-batches, and what micro-batches cost.

    .venv/bin/python scripts/bench_memory.py [--out benchmarks/memory.json]
    .venv/bin/python scripts/bench_memory.py --render     # the tables from benchmarks/memory.json
    .venv/bin/python scripts/bench_memory.py --gpu        # on a GPU (scripts/gpu_check.sh): benchmarks/gpu.json

The setting is the bench's: problems/burgers.yaml's residual (second order), 3x50 tanh,
float32, Adam, no reference grid; one rank (LocalComm) with all of this machine's cores.
Each measurement is its own process (a peak only grows): the peak RSS (VmHWM) above the RSS
once TensorFlow has started, and the median seconds of its timed Adam steps.

1. Peak memory against points per rank, 2^12 ... 2^22: the whole shard at once, and in
   micro-batches of 65,536 points. A whole shard whose estimate exceeds 70 % of the memory
   available here is not run (it would swap or be killed): the table says so.
2. Bytes per point for three network sizes: the slope of the peak between 2^13 and 2^15 points.
3. Points/s at 2^20 points per rank in micro-batches of 2^14, 2^16 and 2^18 points, against the
   best points/s of the whole-shard runs of part 1 (target: >= 90 %).
4. The largest shard that fits in 8 GiB, whole and in micro-batches, from the measured slopes.

--gpu: a 4x256 tanh network (float32) on 2^16 ... 2^22 points on the first GPU: the whole shard,
and where that fails (out of GPU memory) micro-batches of 2^18 points; points/s and TensorFlow's
peak GPU memory (`tf.config.experimental.get_memory_info`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "problems" / "burgers.yaml"
BASE = ["training.lbfgs=null", "reference=null", "scaling=weak", "network.dtype=float32"]
NET = "[50,50,50]"
SWEEP = [2**k for k in (12, 14, 16, 18, 20, 21, 22)]
MICRO = 65536
SLOPE_POINTS = (2**13, 2**15)
NETWORKS = ["[50,50,50]", "[128,128,128,128]", "[256,256,256,256]"]
SPEED_POINTS = 2**20
SPEED_MICRO = [2**14, 2**16, 2**18]
GIB8 = 8 * 2**30
sys.path.insert(0, str(ROOT / "scripts"))
from measure_step_memory import vm_kib  # noqa: E402  (the same peak and baseline as the calibration)

GPU_NET = "[256,256,256,256]"
GPU_POINTS = [2**k for k in range(16, 23)]
GPU_MICRO = 2**18


def settings(points: int, micro_batch: int | None, hidden: str, steps: int) -> list[str]:
    """The overrides of one measurement (and of its estimate)."""
    sets = [
        *BASE,
        f"network.hidden={hidden}",
        f"sampling.points.burgers={points}",
        f"training.adam.steps={steps}",
        "training.log_every=1",
    ]
    return sets + ([f"training.micro_batch={micro_batch}"] if micro_batch else [])


def one(points: int, micro_batch: int | None, hidden: str, steps: int) -> dict:
    """In this process: build one rank, run `steps` Adam steps, report peak and step time."""
    import tensorflow as tf

    from pinnrun.spec.loader import load_spec
    from pinnrun.spec.memory import estimate_rank_memory
    from pinnrun.training.comm import LocalComm
    from pinnrun.training.session import build_session

    tf.constant(1.0) + 1.0  # the runtime's threads and allocator belong to the baseline
    baseline = vm_kib("VmRSS")
    loaded = load_spec(SPEC, settings(points, micro_batch, hidden, steps))
    session = build_session(loaded, LocalComm())
    t0 = time.perf_counter()
    log = session.trainer.run(lambda record: None)
    wall = time.perf_counter() - t0
    adam = log.phase("adam")
    estimate = estimate_rank_memory(loaded.spec, 1, loaded.expressions)
    gpu = {}
    if tf.config.list_physical_devices("GPU"):
        gpu = {
            "gpu_peak_mib": tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20,
            "gpu": tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get(
                "device_name"
            ),
        }
    return {
        **gpu,
        "points": points,
        "micro_batch": micro_batch,
        "micro_batches": session.losses.micro_batches,
        "hidden": hidden,
        "steps": steps,
        "peak_mib": (vm_kib("VmHWM") - baseline) / 1024,
        "seconds_per_step": adam.seconds_per_step,
        "compile_seconds": adam.compile_seconds,
        "wall": wall,
        "estimate_mib": estimate.total / 2**20,
    }


def measure(
    points: int, micro_batch: int | None = None, hidden: str = NET, steps: int = 2, may_fail: bool = False
) -> dict | None:
    cmd = [sys.executable, __file__, "--one", str(points), str(micro_batch or 0), hidden, str(steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0 and may_fail:
        last = proc.stderr.strip().splitlines()[-1:]
        print(f"  {points:>9,} points, micro-batch {micro_batch or '-'}: failed ({last})")
        return None
    if proc.returncode != 0:
        raise SystemExit(f"bench_memory: {' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    gpu = f", GPU peak {result['gpu_peak_mib']:,.0f} MiB" if "gpu_peak_mib" in result else ""
    print(
        f"  {points:>9,} points, micro-batch {micro_batch or '-':>7}, {hidden:>20}: peak "
        f"{result['peak_mib']:8.1f} MiB (estimate {result['estimate_mib']:8.1f}){gpu}, "
        f"{result['seconds_per_step']:.3f} s/step, {points / result['seconds_per_step']:,.0f} points/s",
        flush=True,
    )
    return result


def fits_here(points: int, micro_batch: int | None) -> bool:
    from pinnrun.launch.memory_check import available_memory
    from pinnrun.spec.loader import load_spec
    from pinnrun.spec.memory import estimate_rank_memory

    loaded = load_spec(SPEC, settings(points, micro_batch, NET, 1))
    return estimate_rank_memory(loaded.spec, 1, loaded.expressions).total < 0.7 * available_memory()


def run(out: Path) -> dict:
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "setting": "burgers.yaml residual, 3x50 tanh, float32, Adam, 1 rank",
        "sweep": [],
        "networks": [],
        "speed": [],
    }
    print("1. peak memory against points per rank")
    for points in SWEEP:
        for micro in (None, MICRO):
            if micro and points <= micro:
                continue
            if not fits_here(points, micro):
                results["sweep"].append(
                    {
                        "points": points,
                        "micro_batch": micro,
                        "skipped": "estimate over 70 % of the memory available here",
                    }
                )
                print(f"  {points:>9,} points, micro-batch {micro or '-'}: skipped (estimate too large here)")
                continue
            results["sweep"].append(measure(points, micro, steps=3 if points <= 2**20 else 2))
    print("2. bytes per point by network")
    for hidden in NETWORKS:
        results["networks"].append([measure(p, None, hidden, steps=3) for p in SLOPE_POINTS])
    print("3. points/s at 2^20 points per rank")
    for micro in SPEED_MICRO:
        results["speed"].append(measure(SPEED_POINTS, micro, steps=5))
    out.write_text(json.dumps(results, indent=1) + "\n")
    return results


def run_gpu(out: Path) -> dict:
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "setting": f"burgers.yaml residual, {GPU_NET} tanh, float32, Adam, 1 rank on the first GPU",
        "runs": [],
    }
    for points in GPU_POINTS:
        result = measure(points, None, GPU_NET, steps=5, may_fail=True)
        if result is None:
            result = measure(points, GPU_MICRO, GPU_NET, steps=5, may_fail=True)
        results["runs"].append(result or {"points": points, "failed": True})
    out.write_text(json.dumps(results, indent=1) + "\n")
    return results


def slope(pair: list[dict]) -> float:
    """Bytes per point between two measurements."""
    a, b = pair
    return (b["peak_mib"] - a["peak_mib"]) * 2**20 / (b["points"] - a["points"])


def render(results: dict) -> str:
    lines = [
        f"Measured {results['date']} on {results['machine']}; {results['setting']}; "
        "`.venv/bin/python scripts/bench_memory.py`.",
        "",
        "| points per rank | whole shard: peak MiB (estimate) | s/step | "
        f"micro-batches of {MICRO:,}: peak MiB (estimate) | s/step |",
        "|---|---|---|---|---|",
    ]
    by_points: dict[int, dict] = {}
    for r in results["sweep"]:
        by_points.setdefault(r["points"], {})["micro" if r["micro_batch"] else "whole"] = r

    def cells(r):
        if r is None:
            return ["–", "–"]
        if "skipped" in r:
            return ["not run: " + r["skipped"], "–"]
        return [f"{r['peak_mib']:,.0f} ({r['estimate_mib']:,.0f})", f"{r['seconds_per_step']:.3g}"]

    for points, rs in sorted(by_points.items()):
        lines.append(
            f"| 2^{points.bit_length() - 1} = {points:,} | "
            + " | ".join(cells(rs.get("whole")) + cells(rs.get("micro")))
            + " |"
        )
    lines += [
        "",
        "| network (float32, 2nd-order residual) | bytes per point (peak slope, 2^13 → 2^15) | "
        "per point and hidden unit |",
        "|---|---|---|",
    ]
    for pair in results["networks"]:
        width = sum(json.loads(pair[0]["hidden"]))
        lines.append(f"| {pair[0]['hidden']} | {slope(pair):,.0f} | {slope(pair) / width:.1f} |")
    wholes = [r for r in results["sweep"] if not r["micro_batch"] and "skipped" not in r]
    best = max(wholes, key=lambda r: r["points"] / r["seconds_per_step"])
    best_rate = best["points"] / best["seconds_per_step"]
    lines += [
        "",
        "| at 2^20 points per rank (5 Adam steps) | points/s | of the best whole-shard rate "
        f"({best_rate:,.0f} points/s at {best['points']:,}) | peak MiB |",
        "|---|---|---|---|",
    ]
    for r in results["speed"]:
        rate = r["points"] / r["seconds_per_step"]
        lines.append(
            f"| micro-batches of {r['micro_batch']:,} ({r['micro_batches']}) | {rate:,.0f} | "
            f"{rate / best_rate:.0%} | {r['peak_mib']:,.0f} |"
        )
    micro_runs = [r for r in results["sweep"] if r["micro_batch"] and "skipped" not in r]
    if len(micro_runs) >= 2:
        a, b = micro_runs[0], micro_runs[-1]
        per_point_micro = (b["peak_mib"] - a["peak_mib"]) * 2**20 / (b["points"] - a["points"])
        fixed_micro = a["peak_mib"] * 2**20 - per_point_micro * a["points"]
        per_point_whole = slope(results["networks"][0])
        lines += [
            "",
            f"Largest shard in 8 GiB (3x50, from the measured slopes): whole, about "
            f"{GIB8 / per_point_whole:,.0f} points ({per_point_whole:,.0f} bytes a point); in micro-batches of "
            f"{MICRO:,}, about {(GIB8 - fixed_micro) / per_point_micro:,.0f} points "
            f"({per_point_micro:,.0f} bytes a point held beside the micro-batch's tapes; extrapolated).",
        ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        points, micro, hidden, steps = sys.argv[2:6]
        print(json.dumps(one(int(points), int(micro) or None, hidden, int(steps))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "memory.json")
    parser.add_argument("--render", action="store_true")
    parser.add_argument("--gpu", action="store_true")
    args = parser.parse_args()
    if args.gpu:
        run_gpu(ROOT / "benchmarks" / "gpu.json" if args.out.name == "memory.json" else args.out)
        return
    results = json.loads(args.out.read_text()) if args.render else run(args.out)
    print(render(results))


if __name__ == "__main__":
    main()
