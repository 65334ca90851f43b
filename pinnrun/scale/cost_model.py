"""A ring all-reduce cost model, fitted from a sweep's own measurements.

Per step, a rank computes on its n points, then all-reduces the gradient
(B bytes). Compute: t_c(n) = a + c n. Ring all-reduce on p ranks: 2(p-1)
steps (reduce-scatter, then all-gather), each paying a latency alpha and
moving B/p bytes at beta seconds per byte:

    t_ar(p, B) = 2(p-1) alpha + 2(p-1)/p B beta,    t(p) = t_c(n) + t_ar(p, B).

a and c come from the probe's compute-only timings (every rank's points and
half of them), alpha and beta from its all-reduce timings at several message
sizes on every measured size p >= 2. Both fits are non-negative least squares
on relative error, so small and large messages count alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import nnls

PREDICT_RANKS = (16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class CostModel:
    compute_fixed_seconds: float  # a
    compute_seconds_per_point: float  # c
    latency_seconds: float  # alpha, per ring step
    seconds_per_byte: float  # beta
    gradient_bytes: int  # B

    def compute(self, points_per_rank: float) -> float:
        return self.compute_fixed_seconds + self.compute_seconds_per_point * points_per_rank

    def allreduce(self, ranks: int, nbytes: float | None = None) -> float:
        b = self.gradient_bytes if nbytes is None else nbytes
        return 2 * (ranks - 1) * self.latency_seconds + 2 * (ranks - 1) / ranks * b * self.seconds_per_byte

    def step(self, ranks: int, points_per_rank: float) -> float:
        return self.compute(points_per_rank) + self.allreduce(ranks)

    def predict(self, mode: str, ranks: int, problem_points: int) -> dict:
        """One predicted row; `problem_points` is the 1-rank problem size (per rank in
        weak mode, global in strong mode)."""
        # strong: the ranks hold floor or ceil of N/p whole points and each step waits for the largest
        n = problem_points if mode == "weak" else -(-problem_points // ranks)
        t1, t = self.compute(problem_points), self.step(ranks, n)
        speedup = ranks * t1 / t if mode == "weak" else t1 / t
        return {
            "mode": mode,
            "ranks": ranks,
            "points_per_rank": n,
            "global_points": problem_points * ranks if mode == "weak" else problem_points,
            "seconds_per_step": t,
            "compute_seconds": self.compute(n),
            "allreduce_seconds": self.allreduce(ranks),
            "allreduce_share": self.allreduce(ranks) / t,
            "speedup": speedup,
            "efficiency": speedup / ranks,
        }

    def to_dict(self) -> dict:
        return asdict(self)


class NotEnoughData(ValueError):
    pass


def fit(
    compute: list[tuple[float, float]], allreduce: list[tuple[int, float, float]], gradient_bytes: int
) -> CostModel:
    """compute: (points per rank, seconds); allreduce: (ranks >= 2, bytes, seconds)."""
    if not compute:
        raise NotEnoughData("no compute timings")
    if not allreduce:
        raise NotEnoughData("no all-reduce timings: the sweep needs a size of 2 ranks or more")
    n, tc = np.array(compute, dtype=float).T
    if len(set(n)) > 1:
        a, c = _relative_nnls(np.column_stack([np.ones_like(n), n]), tc)
    else:  # one point count only: all of it per point
        a, c = 0.0, float(np.median(tc / n))
    p, nbytes, tar = np.array(allreduce, dtype=float).T
    alpha, beta = _relative_nnls(np.column_stack([2 * (p - 1), 2 * (p - 1) / p * nbytes]), tar)
    return CostModel(float(a), float(c), float(alpha), float(beta), int(gradient_bytes))


def _relative_nnls(design: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    coef, _ = nnls(design / target[:, None], np.ones_like(target))
    return float(coef[0]), float(coef[1])
