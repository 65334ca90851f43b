"""Disk: part boundary (the circle). Interior by r = R sqrt(u1), theta = 2 pi u2: uniform, no rejection."""

from __future__ import annotations

import numpy as np

from pinnrun.problem.regions.base import PartSampler, Region, as_points


class Disk(Region):
    dim = 2

    def __init__(self, center, radius: float):
        self.center = np.array(center, dtype=np.float64)
        self.radius = float(radius)

    def bounding_box(self):
        return np.stack([self.center - self.radius, self.center + self.radius], axis=1)

    def _distance(self, x):
        return np.linalg.norm(as_points(x, 2) - self.center, axis=1)

    def contains(self, x, strict=False):
        r, tol = self._distance(x), self.tolerance()
        return r < self.radius - tol if strict else r <= self.radius + tol

    def part_names(self):
        return ("boundary",)

    def on_part(self, name, x):
        self.check_part(name)
        return np.abs(self._distance(x) - self.radius) <= self.tolerance()

    def measure(self):
        return float(np.pi * self.radius**2)

    def part_measure(self, name):
        self.check_part(name)
        return float(2 * np.pi * self.radius)

    def _polar(self, r, theta):
        direction = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        return self.center + r[:, None] * direction, direction

    def interior(self):
        return PartSampler(2, lambda u: (self._polar(self.radius * np.sqrt(u[:, 0]), 2 * np.pi * u[:, 1])[0], None))

    def part(self, name):
        self.check_part(name)
        return PartSampler(1, lambda u: self._polar(np.full(len(u), self.radius), 2 * np.pi * u[:, 0]))
