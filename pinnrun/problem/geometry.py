"""Geometry: map unit-cube samples onto the interior and boundary parts.

Sampling produces points in [0, 1)^d; a region maps them to coordinates.
Keeping that split lets every sampler (Sobol, Halton, ...) serve every
geometry, and lets more geometries (disk, polygon, CSG) slot in later.
"""
from __future__ import annotations

import numpy as np

_PARTS = {
    "interval": ("left", "right", "boundary"),
    "rectangle": ("left", "right", "bottom", "top", "boundary"),
}


def boundary_parts(kind: str) -> tuple[str, ...]:
    return _PARTS[kind]


def interior_dim(box: list[tuple[float, float]]) -> int:
    return len(box)


def map_interior(u: np.ndarray, box: list[tuple[float, float]]) -> np.ndarray:
    lo, hi = np.array(box, dtype=np.float64).T
    return lo + u * (hi - lo)


def boundary_param_dim(kind: str, part: str) -> int:
    """Unit dimensions a boundary part needs: a 1D side is a point (0), a 2D side a segment (1);
    'boundary' of an interval uses one dimension to pick the end."""
    if kind == "interval":
        return 1 if part == "boundary" else 0
    return 1


def map_boundary(u: np.ndarray, kind: str, part: str, box) -> tuple[np.ndarray, np.ndarray]:
    """Points on `part` and their outward unit normals, from unit samples `u` (n, param_dim)."""
    n = len(u)
    if kind == "interval":
        (lo, hi), = box
        if part == "boundary":
            right = u[:, 0] >= 0.5
        else:
            right = np.full(n, part == "right")
        x = np.where(right, hi, lo)[:, None]
        return x, np.where(right, 1.0, -1.0)[:, None]
    (x0, x1), (y0, y1) = box
    s = u[:, 0]
    if part == "boundary":
        # walk the perimeter counter-clockwise from (x0, y0); side lengths set the share of points
        w, h = x1 - x0, y1 - y0
        d = s * 2 * (w + h)
        sides = np.select([d < w, d < w + h, d < 2 * w + h], ["bottom", "right", "top"], "left")
        frac = np.select([d < w, d < w + h, d < 2 * w + h],
                         [d / w, (d - w) / h, (d - w - h) / w], (d - 2 * w - h) / h)
    else:
        sides, frac = np.full(n, part), s
    pts = np.empty((n, 2))
    normals = np.zeros((n, 2))
    for side, fixed, moving, normal in (
        ("left", (0, x0), (1, y0, y1), (-1, 0)), ("right", (0, x1), (1, y0, y1), (1, 0)),
        ("bottom", (1, y0), (0, x0, x1), (0, -1)), ("top", (1, y1), (0, x1, x0), (0, 1)),
    ):
        m = sides == side
        pts[m, fixed[0]] = fixed[1]
        pts[m, moving[0]] = moving[1] + frac[m] * (moving[2] - moving[1])
        normals[m] = normal
    return pts, normals
