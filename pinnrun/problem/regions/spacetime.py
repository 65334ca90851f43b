"""A region times a time interval [t0, t1], time as the last coordinate.

Parts: every spatial part swept over time (normals: the spatial normal, 0 in time),
"initial" (the region at t = t0, normal -t) and "boundary" (the spatial boundary over time).
Rejection, where the region uses it, looks at the space columns only."""

from __future__ import annotations

import numpy as np

from pinnrun.problem.regions.base import PartSampler, Region, RegionError, as_points


class SpaceTime(Region):
    def __init__(self, region: Region, t0: float, t1: float):
        if not t0 < t1:
            raise RegionError(f"time bounds [{t0}, {t1}] must be increasing")
        if "initial" in region.part_names():
            raise RegionError("a spatial part may not be called 'initial' (it names the region at the start time)")
        self.region, self.t0, self.t1 = region, float(t0), float(t1)
        self.dim = region.dim + 1

    def bounding_box(self):
        return np.concatenate([self.region.bounding_box(), [[self.t0, self.t1]]])

    def tolerance(self):
        # space and time keep their own scales: a long time span must not loosen the space test
        return self.region.tolerance()

    def _time_tolerance(self):
        return 1e-9 * (self.t1 - self.t0)

    def _in_time(self, t, strict=False):
        tol = self._time_tolerance()
        return (t > self.t0 + tol) & (t < self.t1 - tol) if strict else (t >= self.t0 - tol) & (t <= self.t1 + tol)

    def contains(self, x, strict=False):
        x = as_points(x, self.dim)
        return self.region.contains(x[:, :-1], strict) & self._in_time(x[:, -1], strict)

    def part_names(self):
        spatial = self.region.part_names()
        return spatial[:-1] + ("initial", "boundary")

    def on_part(self, name, x):
        self.check_part(name)
        x = as_points(x, self.dim)
        if name == "initial":
            return self.region.contains(x[:, :-1]) & (np.abs(x[:, -1] - self.t0) <= self._time_tolerance())
        return self.region.on_part(name, x[:, :-1]) & self._in_time(x[:, -1])

    def measure(self):
        return self.region.measure() * (self.t1 - self.t0)

    def part_measure(self, name):
        self.check_part(name)
        if name == "initial":
            return self.region.measure()
        return self.region.part_measure(name) * (self.t1 - self.t0)

    def _swept(self, sampler: PartSampler, with_normals: bool) -> PartSampler:
        """Space from the first unit columns, time from the last."""
        d = sampler.unit_dim

        def map_(u):
            x, n = sampler.map(u[:, :d])
            t = self.t0 + u[:, d : d + 1] * (self.t1 - self.t0)
            normals = np.concatenate([n, np.zeros((len(u), 1))], axis=1) if with_normals else None
            return np.concatenate([x, t], axis=1), normals

        def accept(u, x, n):
            return sampler.accept(u[:, :d], x[:, :-1], None if n is None else n[:, :-1])

        return PartSampler(d + 1, map_, accept if sampler.accept is not None else None)

    def interior(self):
        return self._swept(self.region.interior(), with_normals=False)

    def part(self, name):
        self.check_part(name)
        if name != "initial":
            return self._swept(self.region.part(name), with_normals=True)
        space = self.region.interior()

        def map_(u):
            x, _ = space.map(u)
            normals = np.zeros((len(u), self.dim))
            normals[:, -1] = -1.0
            return np.concatenate([x, np.full((len(u), 1), self.t0)], axis=1), normals

        def accept(u, x, n):
            return space.accept(u, x[:, :-1], None)

        return PartSampler(space.unit_dim, map_, accept if space.accept is not None else None)
