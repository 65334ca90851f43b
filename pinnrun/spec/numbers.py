"""Number fields shared by the spec's schemas: never a boolean, coordinates bounded."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from pinnrun.spec.limits import MAX_GEOMETRY_COORDINATE


def no_boolean(value):
    # pydantic's lax mode reads true as 1 and false as 0; a spec never means that
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


def _coordinate(value: float) -> float:
    if abs(value) > MAX_GEOMETRY_COORDINATE:
        raise ValueError(f"a coordinate must lie within -{MAX_GEOMETRY_COORDINATE:g}..{MAX_GEOMETRY_COORDINATE:g}")
    return value


Coordinate = Annotated[float, BeforeValidator(no_boolean), AfterValidator(_coordinate)]
Bounds = tuple[Coordinate, Coordinate]
