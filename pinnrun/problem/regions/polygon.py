"""Any simple polygon, either orientation: parts edge1..edgeN (edge k from vertex k to the next,
the last back to the first) and boundary (perimeter walk). Interior without rejection: a
triangle picked by area, then a uniform point in it."""

from __future__ import annotations

import numpy as np

from pinnrun.problem.regions.base import PartSampler, Region, as_points, pick_by_share
from pinnrun.problem.regions.polygon_shape import edge_distances, even_odd, signed_area, triangulate


class Polygon(Region):
    dim = 2

    def __init__(self, vertices):
        """`vertices`: (m, 2) of a simple polygon without a closing repeat (see polygon_shape.checked_vertices)."""
        self.vertices = np.array(vertices, dtype=np.float64)
        self.starts, self.ends = self.vertices, np.roll(self.vertices, -1, axis=0)
        edges = self.ends - self.starts
        self.lengths = np.linalg.norm(edges, axis=1)
        area = signed_area(self.vertices)
        self.area = abs(area)
        # (dy, -dx) points right of the walking direction: outward when the walk is counter-clockwise
        self.normals = np.sign(area) * np.stack([edges[:, 1], -edges[:, 0]], axis=1) / self.lengths[:, None]
        ccw = self.vertices if area > 0 else self.vertices[::-1]
        corners = ccw[triangulate(ccw)]  # (t, 3, 2)
        self.triangles = corners
        ab, ac = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        self.triangle_areas = 0.5 * np.abs(ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0])
        self.names = tuple(f"edge{k + 1}" for k in range(len(self.vertices)))

    def bounding_box(self):
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)], axis=1)

    def contains(self, x, strict=False):
        x = as_points(x, 2)
        tol = self.tolerance()
        near_edge = edge_distances(x, self.starts, self.ends) <= tol
        inside = even_odd(x, self.vertices)
        return inside & ~near_edge if strict else inside | near_edge

    def part_names(self):
        return self.names + ("boundary",)

    def _edges(self, name):
        self.check_part(name)
        return slice(None) if name == "boundary" else slice(self.names.index(name), self.names.index(name) + 1)

    def on_part(self, name, x):
        edges = self._edges(name)
        return edge_distances(as_points(x, 2), self.starts[edges], self.ends[edges]) <= self.tolerance()

    def measure(self):
        return float(self.area)

    def part_measure(self, name):
        return float(np.sum(self.lengths[self._edges(name)]))

    def _triangle_points(self, u):
        which, _ = pick_by_share(u[:, 0], self.triangle_areas)
        a, b = u[:, 1].copy(), u[:, 2].copy()
        fold = a + b > 1  # the far half of the unit square maps onto the near half
        a[fold], b[fold] = 1 - a[fold], 1 - b[fold]
        t = self.triangles[which]
        return t[:, 0] + a[:, None] * (t[:, 1] - t[:, 0]) + b[:, None] * (t[:, 2] - t[:, 0]), None

    def interior(self):
        return PartSampler(3, self._triangle_points)

    def _edge_points(self, which, s):
        start, end = self.starts[which], self.ends[which]
        return start + s[:, None] * (end - start), self.normals[which]

    def part(self, name):
        if name == "boundary":
            return PartSampler(1, lambda u: self._edge_points(*pick_by_share(u[:, 0], self.lengths)))
        self.check_part(name)
        k = self.names.index(name)
        return PartSampler(1, lambda u: self._edge_points(np.full(len(u), k), u[:, 0]))
