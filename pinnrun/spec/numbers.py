"""Number fields shared by the spec's schemas: never a boolean, coordinates bounded."""

from __future__ import annotations

import re
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


_BYTE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def _bytes(value):
    """A size in bytes: a whole number, or a number and a unit ("8 GiB", "512MiB", "1.5 GB")."""
    value = no_boolean(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        found = re.fullmatch(r"\s*(\d{1,15}(?:\.\d{1,15})?)\s*([A-Za-z]{1,3})\s*", value)  # bounded: no overflow
        if found and found.group(2).lower() in _BYTE_UNITS:
            return int(float(found.group(1)) * _BYTE_UNITS[found.group(2).lower()])
    raise ValueError(
        "a size is a number of bytes or a number and a unit, e.g. 8 GiB (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
    )


Coordinate = Annotated[float, BeforeValidator(no_boolean), AfterValidator(_coordinate)]
Bounds = tuple[Coordinate, Coordinate]
Bytes = Annotated[int, BeforeValidator(_bytes)]
