"""Pairs of boundary parts that are translates of each other, for periodic conditions."""

from __future__ import annotations

import numpy as np

from pinnrun.problem.regions.base import Region

# a handful of fixed unit points; a translation must hold at every one
_PROBES = np.random.default_rng(12345).random((8, 8))


def paired_translation(region: Region, a: str, b: str) -> np.ndarray | None:
    """The offset d with part b's point == part a's point + d for the same unit sample u,
    so equal draws pair points across the two parts; None when the parts are not translates
    of each other or either is drawn by rejection (its kept points would not pair up)."""
    sa, sb = region.part(a), region.part(b)
    if sa.accept is not None or sb.accept is not None or sa.unit_dim != sb.unit_dim:
        return None
    u = _PROBES[:, : sa.unit_dim]
    xa, _ = sa.map(u)
    xb, _ = sb.map(u)
    offset = xb[0] - xa[0]
    if not np.allclose(xb - xa, offset, rtol=0, atol=region.tolerance()):
        return None
    return offset
