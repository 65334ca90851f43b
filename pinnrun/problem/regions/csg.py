"""Union, difference (the first minus the union of the rest) and intersection of regions.

Interiors and boundaries are drawn by rejection: candidates come from the bounding box
(union) or the first operand (difference, intersection) and from the operands' boundaries,
and are kept where they belong to the result. A boundary point x of an operand, with the
result's outward normal n (an operand subtracted from the first has its normal flipped),
lies on the result's boundary when the result holds x - h n and not x + h n for a step h
far above the containment tolerance (PROBE_STEP of the size). That one test covers every
operation and also drops interfaces where operands only touch. Where two operands share a
boundary facing the same way, the whole boundary takes it from the earlier operand only, so
no piece is drawn twice (a named operand's part keeps all of its piece).
Points within h of a corner may be judged wrongly: a fraction ~1e-6 of a boundary.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

from pinnrun.problem.regions.base import PartSampler, Region, as_points, pick_by_share

OPERATIONS = ("union", "difference", "intersection")
PROBE_STEP = 1e-6
# Candidates of the deterministic Sobol estimates of measures: about 1e-3 relative error
# for areas bounded by smooth curves (QMC error of an indicator ~ n^-3/4 in 2D), 1e-5 for lengths.
MEASURE_CANDIDATES = 1 << 16


class Csg(Region):
    def __init__(self, operation: str, operands: list[Region], names: list[str | None]):
        self.operation, self.operands, self.names = operation, list(operands), list(names)
        self.dim = operands[0].dim
        self.signs = [1.0] + [-1.0 if operation == "difference" else 1.0] * (len(operands) - 1)
        # selectable part -> (operand index, that operand's part)
        self.parts: dict[str, tuple[int, str]] = {}
        for k, (operand, name) in enumerate(zip(operands, names)):
            if name is not None:
                self.parts[name] = (k, "boundary")
                self.parts.update({f"{name}.{p}": (k, p) for p in operand.part_names() if p != "boundary"})
        boxes = np.stack([op.bounding_box() for op in operands])
        if operation == "union":
            box = np.stack([boxes[:, :, 0].min(axis=0), boxes[:, :, 1].max(axis=0)], axis=1)
        elif operation == "intersection":
            box = np.stack([boxes[:, :, 0].max(axis=0), boxes[:, :, 1].min(axis=0)], axis=1)
            box[:, 1] = np.maximum(box[:, 0], box[:, 1])  # disjoint operands: an empty result, refused in build
        else:
            box = boxes[0]
        self.box = box
        self.step = PROBE_STEP * float(np.max(boxes[:, :, 1] - boxes[:, :, 0]))
        self._cache: dict = {}

    def bounding_box(self):
        return self.box.copy()

    def contains(self, x, strict=False):
        x = as_points(x, self.dim)
        if self.operation == "union":
            return np.any([op.contains(x, strict) for op in self.operands], axis=0)
        if self.operation == "intersection":
            return np.all([op.contains(x, strict) for op in self.operands], axis=0)
        # closed: in the first and not strictly in a hole; strict: strictly in the first, not in a hole
        holes = np.any([op.contains(x, not strict) for op in self.operands[1:]], axis=0)
        return self.operands[0].contains(x, strict) & ~holes

    def part_names(self):
        return tuple(self.parts) + ("boundary",)

    def _on_boundary(self, x):
        return self.contains(x) & ~self.contains(x, strict=True)

    def on_part(self, name, x):
        self.check_part(name)
        x = as_points(x, self.dim)
        if name == "boundary":
            on = np.any([op.on_part("boundary", x) for op in self.operands], axis=0)
        else:
            k, p = self.parts[name]
            on = self.operands[k].on_part(p, x)
        return on & self._on_boundary(x)

    def keeps(self, k: int, x: np.ndarray, normals: np.ndarray, once: bool = False) -> np.ndarray:
        """Which boundary points x of operand k (with the result's outward normals) are on the result's
        boundary; once: not where an earlier operand's boundary runs too (that operand draws it)."""
        keep = self.contains(x - self.step * normals, strict=True) & ~self.contains(x + self.step * normals)
        for earlier in self.operands[:k] if once else ():
            keep &= ~earlier.on_part("boundary", x)
        return keep

    # --- samplers -------------------------------------------------------------------
    def interior(self):
        if self.operation == "union":
            lo, hi = self.box[:, 0], self.box[:, 1]
            return PartSampler(self.dim, lambda u: (lo + u * (hi - lo), None), lambda u, x, n: self.contains(x))
        first = self.operands[0].interior()

        def accept(u, x, n):
            keep = self.contains(x)
            return keep & first.accept(u, x, n) if first.accept is not None else keep

        return PartSampler(first.unit_dim, first.map, accept)

    def part(self, name):
        self.check_part(name)
        if name == "boundary":
            return self._boundary()
        k, p = self.parts[name]
        return self._operand_part(k, self.operands[k].part(p))

    def _operand_part(self, k, sampler, once=False):
        sign = self.signs[k]

        def map_(u):
            x, n = sampler.map(u)
            return x, sign * n

        def accept(u, x, n):
            keep = self.keeps(k, x, n, once)
            return keep & sampler.accept(u, x, sign * n) if sampler.accept is not None else keep

        return PartSampler(sampler.unit_dim, map_, accept)

    def _boundary(self):
        # the first unit coordinate picks an operand by its candidates' share and, rescaled, is that
        # operand's first coordinate; shares follow the candidate (pre-rejection) sizes so the kept
        # points are uniform along the result's boundary
        samplers = [self._operand_part(k, op.part("boundary"), once=True) for k, op in enumerate(self.operands)]
        shares = [candidate_measure(op, "boundary") for op in self.operands]
        unit_dim = max(s.unit_dim for s in samplers)

        def split(u):
            which, first = pick_by_share(u[:, 0], shares)
            return which, np.concatenate([first[:, None], u[:, 1:]], axis=1)

        def map_(u):
            which, v = split(u)
            x, n = np.empty((len(u), self.dim)), np.empty((len(u), self.dim))
            for k, s in enumerate(samplers):
                rows = which == k
                x[rows], n[rows] = s.map(v[rows, : s.unit_dim])
            return x, n

        def accept(u, x, n):
            which, v = split(u)
            keep = np.zeros(len(u), dtype=bool)
            for k, s in enumerate(samplers):
                rows = which == k
                keep[rows] = s.accept(v[rows, : s.unit_dim], x[rows], n[rows])
            return keep

        return PartSampler(unit_dim, map_, accept)

    # --- measures: deterministic Sobol estimates (see MEASURE_CANDIDATES) ---------------
    def measure(self):
        if "interior" not in self._cache:
            self._cache["interior"] = candidate_measure(self, None) * accepted_fraction(self.interior())
        return self._cache["interior"]

    def part_measure(self, name):
        self.check_part(name)
        if name not in self._cache:
            self._cache[name] = candidate_measure(self, name) * accepted_fraction(self.part(name))
        return self._cache[name]


def candidate_measure(region: Region, part: str | None) -> float:
    """Size of the set a sampler draws candidates from, before rejection (part None: the interior)."""
    if not isinstance(region, Csg):
        return region.measure() if part is None else region.part_measure(part)
    if part is None:
        if region.operation == "union":
            return float(np.prod(region.box[:, 1] - region.box[:, 0]))
        return candidate_measure(region.operands[0], None)
    if part == "boundary":
        return float(sum(candidate_measure(op, "boundary") for op in region.operands))
    k, p = region.parts[part]
    return candidate_measure(region.operands[k], p)


def accepted_fraction(sampler: PartSampler, n: int = MEASURE_CANDIDATES) -> float:
    """Share of a fixed scrambled Sobol set of candidates that the sampler keeps."""
    if sampler.accept is None:
        return 1.0
    if sampler.unit_dim == 0:
        u = np.zeros((1, 0))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            u = qmc.Sobol(d=sampler.unit_dim, scramble=True, seed=0).random(n)
    x, normals = sampler.map(u)
    return float(np.mean(sampler.accept(u, x, normals)))
