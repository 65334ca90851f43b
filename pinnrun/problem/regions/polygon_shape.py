"""Plane-geometry helpers for simple polygons: checks, ear-clipping triangulation,
vectorised containment and distance to edges. Vertices are (m, 2) float64 arrays."""

from __future__ import annotations

import numpy as np

from pinnrun.problem.regions.base import RegionError

# Points x edges evaluated at once by the vectorised tests (about 16 MB of float64 per array).
_PAIRS_PER_BLOCK = 1 << 21


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def signed_area(v: np.ndarray) -> float:
    """Positive for counter-clockwise vertices (shoelace)."""
    return 0.5 * float(np.sum(_cross(v, np.roll(v, -1, axis=0))))


def checked_vertices(points, max_vertices: int) -> np.ndarray:
    """The polygon's vertices without a repeated closing vertex; RegionError (one line) if it is
    not a simple polygon of positive area."""
    v = np.array(points, dtype=np.float64).reshape(-1, 2)
    if len(v) > 3 and np.array_equal(v[0], v[-1]):
        v = v[:-1]
    if len(np.unique(v, axis=0)) < 3:
        raise RegionError(f"a polygon needs at least 3 distinct vertices, got {len(np.unique(v, axis=0))}")
    if len(v) > max_vertices:
        raise RegionError(f"a polygon may have at most {max_vertices} vertices, got {len(v)}")
    repeated = np.flatnonzero(np.all(v == np.roll(v, -1, axis=0), axis=1))
    if len(repeated):
        i = int(repeated[0])
        raise RegionError(f"vertices {i + 1} and {(i + 1) % len(v) + 1} are the same point {v[i].tolist()}")
    extent = float(np.max(np.ptp(v, axis=0)))
    spread = v - v[0]
    if np.linalg.svd(spread, compute_uv=False)[-1] <= 1e-12 * extent * np.sqrt(len(v)):
        raise RegionError("the polygon has zero area (its vertices lie on one line)")
    crossing = first_crossing(v)
    if crossing is not None:
        i, j = crossing
        raise RegionError(
            f"the polygon intersects itself: edges {i + 1} and {j + 1} cross or touch "
            f"(edge k runs from vertex k to the next; a simple polygon is required)"
        )
    if abs(signed_area(v)) <= 1e-12 * extent**2:
        raise RegionError("the polygon has zero area")
    return v


def first_crossing(v: np.ndarray) -> tuple[int, int] | None:
    """The first pair (i, j), i < j, of edges that share a point although they are not neighbours,
    or neighbours folding back onto each other; None for a simple polygon.

    Sweep in x: only pairs whose x-ranges overlap are tested (those whose y-ranges overlap
    too get the exact test), so an outline of 10,000 vertices checks in about 0.1 s."""
    m = len(v)
    a, b = v, np.roll(v, -1, axis=0)
    d = b - a
    # neighbours (edge k-1, edge k) overlap only if edge k turns straight back
    back = (_cross(np.roll(d, 1, axis=0), d) == 0) & (np.sum(np.roll(d, 1, axis=0) * d, axis=1) < 0)
    found = [tuple(sorted(((k - 1) % m, k))) for k in np.flatnonzero(back)]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.argsort(lo[:, 0], kind="stable")
    # in x-sorted order, edge s overlaps in x every later edge up to reach[s]
    reach = np.searchsorted(lo[order, 0], hi[order, 0], side="right")
    counts = reach - np.arange(m) - 1
    first = 0
    while first < m:
        # a block of sorted edges whose candidate pairs fit in one block of arrays
        last = first + max(1, int(np.searchsorted(np.cumsum(counts[first:]), _PAIRS_PER_BLOCK)))
        block = np.arange(first, min(m, last))
        s_i = np.repeat(block, counts[block])
        offsets = np.arange(len(s_i)) - np.repeat(np.cumsum(counts[block]) - counts[block], counts[block])
        i, j = order[s_i], order[s_i + 1 + offsets]
        keep = np.all((lo[i] <= hi[j]) & (lo[j] <= hi[i]), axis=1)
        keep &= (j != (i + 1) % m) & (i != (j + 1) % m)
        i, j = i[keep], j[keep]
        if len(i):
            hit = _segments_meet(a[i], b[i], a[j], b[j])
            found += [tuple(sorted(p)) for p in zip(i[hit].tolist(), j[hit].tolist())]
        first = int(block[-1]) + 1
    return min(found, default=None)


def _segments_meet(ai, bi, aj, bj) -> np.ndarray:
    """Closed segments ai-bi and aj-bj share at least one point (crossing, touching or overlapping)."""
    di, dj = bi - ai, bj - aj
    o1, o2 = np.sign(_cross(di, aj - ai)), np.sign(_cross(di, bj - ai))
    o3, o4 = np.sign(_cross(dj, ai - aj)), np.sign(_cross(dj, bi - aj))
    hit = (o1 * o2 < 0) & (o3 * o4 < 0)
    hit |= (o1 == 0) & _within(ai, bi, aj)
    hit |= (o2 == 0) & _within(ai, bi, bj)
    hit |= (o3 == 0) & _within(aj, bj, ai)
    hit |= (o4 == 0) & _within(aj, bj, bi)
    return hit


def _within(a, b, p):
    """p inside the axis box spanned by a and b (p is known to be on their line)."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return np.all((p >= lo) & (p <= hi), axis=-1)


def triangulate(v: np.ndarray) -> np.ndarray:
    """Ear clipping of a simple counter-clockwise polygon: (m - 2, 3) vertex indices.
    A vertex is an ear when it is convex and no non-convex vertex lies in its triangle;
    only non-convex vertices can be inside an ear, so only they are tested."""
    m = len(v)
    prev, nxt = np.roll(np.arange(m), 1), np.roll(np.arange(m), -1)
    alive = np.ones(m, dtype=bool)

    def turn(k):
        return _cross(v[k] - v[prev[k]], v[nxt[k]] - v[k])

    convex = turn(np.arange(m)) > 0
    triangles, remaining, i, misses = [], m, 0, 0
    while remaining > 3:
        p, n = prev[i], nxt[i]
        if convex[i] and _is_ear(v, p, i, n, np.flatnonzero(alive & ~convex)) or misses > remaining:
            if misses > remaining:  # rounding left no clean ear: clip the most convex vertex
                candidates = np.flatnonzero(alive)
                i = int(candidates[np.argmax(turn(candidates))])
                p, n = prev[i], nxt[i]
            triangles.append((p, i, n))
            alive[i] = False
            nxt[p], prev[n] = n, p
            remaining -= 1
            convex[p], convex[n] = turn(p) > 0, turn(n) > 0
            misses, i = 0, n
        else:
            misses, i = misses + 1, n
    triangles.append((prev[i], i, nxt[i]))
    return np.array(triangles, dtype=np.int64)


def _is_ear(v, p, i, n, others) -> bool:
    others = others[(others != p) & (others != i) & (others != n)]
    if not len(others):
        return True
    q = v[others]
    a, b, c = v[p], v[i], v[n]
    inside = (_cross(b - a, q - a) >= 0) & (_cross(c - b, q - b) >= 0) & (_cross(a - c, q - c) >= 0)
    return not inside.any()


def even_odd(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Ray-casting parity: True strictly inside (points on an edge may fall either way)."""
    a, b = v, np.roll(v, -1, axis=0)
    inside = np.zeros(len(x), dtype=bool)
    for rows in _point_blocks(len(x), len(v)):
        px, py = x[rows, 0:1], x[rows, 1:2]
        straddles = (a[:, 1] > py) != (b[:, 1] > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = a[:, 0] + (py - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
        inside[rows] = np.count_nonzero(straddles & (px < x_cross), axis=1) % 2 == 1
    return inside


def edge_distances(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimum distance of each point to the segments a[k]-b[k]."""
    d = b - a
    length2 = np.sum(d * d, axis=1)
    out = np.empty(len(x))
    for rows in _point_blocks(len(x), len(a)):
        rel = x[rows, None, :] - a[None]
        t = np.clip(np.sum(rel * d[None], axis=2) / length2, 0.0, 1.0)
        out[rows] = np.min(np.linalg.norm(rel - t[..., None] * d[None], axis=2), axis=1)
    return out


def _point_blocks(n: int, edges: int):
    step = max(1, _PAIRS_PER_BLOCK // max(edges, 1))
    return (slice(s, min(n, s + step)) for s in range(0, n, step))
