"""What every region offers: containment, named boundary parts, normals, measure, samplers.

Sampling is split in two so every unit-cube sequence serves every region: a
PartSampler maps unit points u in [0, 1)^unit_dim to points (and outward normals)
and optionally accepts or rejects each candidate; pinnrun/sampling/draw.py turns
that into exact per-rank blocks of the accepted sequence.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable

import numpy as np

# Containment and part membership are decided within this fraction of the bounding box's
# largest side: points computed on a boundary (rounding ~1e-16 relative) count as on it.
RELATIVE_TOLERANCE = 1e-9

Map = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
Accept = Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]


class RegionError(ValueError):
    """A geometry that cannot be a region. `path` locates the culprit inside the geometry
    mapping (e.g. ("difference", 1, "polygon")); the message is one line."""

    def __init__(self, message: str, path: tuple = ()):
        super().__init__(message)
        self.path = tuple(path)


@dataclass(frozen=True)
class PartSampler:
    """How to draw candidates of a region's interior or of one boundary part."""

    unit_dim: int  # unit-cube dimensions one candidate needs
    map: Map  # u (n, unit_dim) -> (x (n, dim), outward unit normals (n, dim) or None for interiors)
    # (u, x, normals) -> bool mask of the candidates kept; None: every candidate is kept.
    # It sees u and the normals too: a CSG boundary needs to know which operand drew a point
    # and which way its boundary faces there.
    accept: Accept | None = None


class Region(ABC):
    dim: int

    @abstractmethod
    def bounding_box(self) -> np.ndarray:
        """(dim, 2): lo and hi per axis."""

    @abstractmethod
    def contains(self, x: np.ndarray, strict: bool = False) -> np.ndarray:
        """Closed set within the tolerance; strict=True: farther than the tolerance inside."""

    @abstractmethod
    def part_names(self) -> tuple[str, ...]:
        """Every selectable boundary part; "boundary" (the whole boundary) is last."""

    @abstractmethod
    def on_part(self, name: str, x: np.ndarray) -> np.ndarray:
        """Which points lie on boundary part `name` (within the tolerance)."""

    @abstractmethod
    def measure(self) -> float:
        """Length, area or volume."""

    @abstractmethod
    def part_measure(self, name: str) -> float:
        """Size of a boundary part (an interval's end points count 1 each)."""

    @abstractmethod
    def interior(self) -> PartSampler: ...

    @abstractmethod
    def part(self, name: str) -> PartSampler: ...

    def tolerance(self) -> float:
        box = self.bounding_box()
        return RELATIVE_TOLERANCE * float(np.max(box[:, 1] - box[:, 0]))

    def check_part(self, name: str) -> None:
        if name not in self.part_names():
            raise RegionError(f"no boundary part '{name}' (parts: {', '.join(self.part_names())})")


def as_points(x, dim: int) -> np.ndarray:
    """Float64 (n, dim) view of `x`, refusing any other shape."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"points must have shape (n, {dim}), got {x.shape}")
    return x


def pick_by_share(u0: np.ndarray, shares) -> tuple[np.ndarray, np.ndarray]:
    """Which bin of the cumulative `shares` (summing to any positive total) each u0 in [0, 1)
    falls in, and u0 rescaled to [0, 1) within its bin, so one unit coordinate both picks
    a piece and stays uniform inside it."""
    cumulative = np.cumsum(np.asarray(shares, dtype=np.float64))
    edges = np.concatenate([[0.0], cumulative / cumulative[-1]])
    edges[-1] = 1.0
    which = np.clip(np.searchsorted(edges, u0, side="right") - 1, 0, len(shares) - 1)
    width = edges[which + 1] - edges[which]
    rescaled = np.clip((u0 - edges[which]) / np.where(width > 0, width, 1.0), 0.0, np.nextafter(1.0, 0.0))
    return which, rescaled
