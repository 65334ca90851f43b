"""Axis-aligned boxes in 1, 2 or 3 dimensions: the shared body of interval, rectangle and box."""

from __future__ import annotations

import numpy as np

from pinnrun.problem.regions.base import PartSampler, Region, as_points, pick_by_share

# (part name, axis, side) in the order part_names() lists them; side 0 = low bound, 1 = high.
FACES = {
    1: (("left", 0, 0), ("right", 0, 1)),
    2: (("left", 0, 0), ("right", 0, 1), ("bottom", 1, 0), ("top", 1, 1)),
    3: (("left", 0, 0), ("right", 0, 1), ("front", 1, 0), ("back", 1, 1), ("bottom", 2, 0), ("top", 2, 1)),
}


class AxisBox(Region):
    def __init__(self, bounds):
        self.bounds = np.array(bounds, dtype=np.float64).reshape(-1, 2)
        self.dim = len(self.bounds)
        self.lo, self.hi = self.bounds[:, 0], self.bounds[:, 1]
        self.faces = FACES[self.dim]

    def bounding_box(self) -> np.ndarray:
        return self.bounds.copy()

    def contains(self, x, strict=False):
        x, tol = as_points(x, self.dim), self.tolerance()
        if strict:
            return np.all((x > self.lo + tol) & (x < self.hi - tol), axis=1)
        return np.all((x >= self.lo - tol) & (x <= self.hi + tol), axis=1)

    def part_names(self):
        return tuple(name for name, _, _ in self.faces) + ("boundary",)

    def on_part(self, name, x):
        self.check_part(name)
        x = as_points(x, self.dim)
        faces = self.faces if name == "boundary" else [f for f in self.faces if f[0] == name]
        tol = self.tolerance()
        on = np.zeros(len(x), dtype=bool)
        for _, axis, side in faces:
            on |= np.abs(x[:, axis] - self.bounds[axis, side]) <= tol
        return on & self.contains(x)

    def measure(self):
        return float(np.prod(self.hi - self.lo))

    def _face_measure(self, axis):
        # an interval's end is a point: counted 1
        return float(np.prod(np.delete(self.hi - self.lo, axis)))

    def part_measure(self, name):
        self.check_part(name)
        return float(sum(self._face_measure(axis) for face, axis, _ in self.faces if name in (face, "boundary")))

    def interior(self):
        return PartSampler(self.dim, lambda u: (self.lo + u * (self.hi - self.lo), None))

    def _face_points(self, u, axis, side):
        """Face points in axis order: the free axes take u's columns in increasing axis order, so
        opposite faces are translates of each other (same u -> same free coordinates)."""
        n = len(u)
        x = np.empty((n, self.dim))
        free = [a for a in range(self.dim) if a != axis]
        for column, a in enumerate(free):
            x[:, a] = self.lo[a] + u[:, column] * (self.hi[a] - self.lo[a])
        x[:, axis] = self.bounds[axis, side]
        normals = np.zeros((n, self.dim))
        normals[:, axis] = 1.0 if side else -1.0
        return x, normals

    def part(self, name):
        self.check_part(name)
        if name != "boundary":
            _, axis, side = next(f for f in self.faces if f[0] == name)
            return PartSampler(self.dim - 1, lambda u: self._face_points(u, axis, side))
        return PartSampler(max(1, self.dim - 1), self._boundary_points)

    def _boundary_points(self, u):
        # the first unit coordinate picks a face by its share of the boundary and, rescaled,
        # is the face's first coordinate: one dimension fewer than picking separately
        which, first = pick_by_share(u[:, 0], [self._face_measure(axis) for _, axis, _ in self.faces])
        face_u = np.concatenate([first[:, None], u[:, 1:]], axis=1)[:, : self.dim - 1]
        x = np.empty((len(u), self.dim))
        normals = np.empty((len(u), self.dim))
        for index, (_, axis, side) in enumerate(self.faces):
            rows = which == index
            x[rows], normals[rows] = self._face_points(face_u[rows], axis, side)
        return x, normals
