"""The shape of a spec's `geometry:` (one region kind per mapping, CSG nested).

Only the shape lives here: bounds increasing, radius positive, vertex and
operand counts. Whether a polygon is simple, operands share a dimension or a
CSG result is empty is decided where regions are built
(pinnrun/problem/regions/build.py), which this layer must not import.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pinnrun.spec.limits import MAX_CSG_OPERANDS, MAX_POLYGON_VERTICES
from pinnrun.spec.numbers import Bounds, Coordinate

PRIMITIVE_KINDS = ("interval", "rectangle", "box", "disk", "polygon")
CSG_KINDS = ("union", "difference", "intersection")
KINDS = PRIMITIVE_KINDS + CSG_KINDS
MAX_REGION_NAME_CHARS = 64


GeometryCoordinate = Coordinate
GeometryBounds = Bounds
Point2 = tuple[GeometryCoordinate, GeometryCoordinate]
RegionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=MAX_REGION_NAME_CHARS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Disk(_Strict):
    center: Point2
    radius: Annotated[GeometryCoordinate, Field(gt=0)]


Operands = Annotated[list["Geometry"], Field(min_length=2, max_length=MAX_CSG_OPERANDS)]


class Geometry(_Strict):
    """Exactly one kind key, plus an optional `name` a condition can select parts by
    (`<name>`, `<name>.<part>`) when the region is an operand of a union/difference/intersection."""

    name: RegionName | None = None
    interval: GeometryBounds | None = None
    rectangle: tuple[GeometryBounds, GeometryBounds] | None = None
    box: tuple[GeometryBounds, GeometryBounds, GeometryBounds] | None = None
    disk: Disk | None = None
    # vertices in order, either orientation; it closes itself (repeating the first vertex at the end is allowed)
    polygon: Annotated[list[Point2], Field(min_length=3, max_length=MAX_POLYGON_VERTICES + 1)] | None = None
    union: Operands | None = None
    difference: Operands | None = None  # the first minus the union of the rest
    intersection: Operands | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_kind(cls, data):
        # An unknown key would otherwise read "Extra inputs are not permitted", which does not say what is allowed.
        if isinstance(data, dict):
            for key in data:
                if key != "name" and key not in KINDS:
                    raise ValueError(f"unknown geometry kind '{key}' (give exactly one of: {', '.join(KINDS)})")
        return data

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of: {', '.join(KINDS)}")
        for lo, hi in self.axis_bounds or ():
            if not lo < hi:
                raise ValueError(f"bounds [{lo}, {hi}] must be increasing")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def operands(self) -> list[Geometry] | None:
        """The operands of a union/difference/intersection; None for a primitive."""
        return getattr(self, self.kind) if self.kind in CSG_KINDS else None

    @property
    def axis_bounds(self) -> list[tuple[float, float]] | None:
        """Per-axis (lo, hi) of an interval, rectangle or box; None for other kinds."""
        for kind in ("interval", "rectangle", "box"):
            value = getattr(self, kind)
            if value is not None:
                return [value] if kind == "interval" else list(value)
        return None

    @property
    def dim(self) -> int:
        """Space dimension (a CSG region takes its first operand's; build_region refuses mixed ones)."""
        if self.operands is not None:
            return self.operands[0].dim
        return {"interval": 1, "rectangle": 2, "box": 3, "disk": 2, "polygon": 2}[self.kind]


Geometry.model_rebuild()
