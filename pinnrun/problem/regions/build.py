"""A validated `geometry:` mapping turned into a Region, refusing what cannot be one."""

from __future__ import annotations

from pinnrun.problem.regions.base import Region, RegionError
from pinnrun.problem.regions.box import Box
from pinnrun.problem.regions.csg import Csg, accepted_fraction
from pinnrun.problem.regions.disk import Disk
from pinnrun.problem.regions.interval import Interval
from pinnrun.problem.regions.polygon import Polygon
from pinnrun.problem.regions.polygon_shape import checked_vertices
from pinnrun.problem.regions.rectangle import Rectangle
from pinnrun.spec.geometry_schema import Geometry
from pinnrun.spec.limits import MAX_POLYGON_VERTICES

# Candidates of the emptiness check: a result holding less than ~1/4096 of its candidates'
# measure is refused as empty (the sampler could not find it either).
EMPTY_CHECK_CANDIDATES = 4096
RESERVED_NAMES = ("boundary", "initial")  # whole-boundary and start-time parts


def build_region(geometry: Geometry, path: tuple = ()) -> Region:
    """RegionError(message, path) names the place inside the geometry mapping that is wrong."""
    kind = geometry.kind
    if kind == "interval":
        return Interval(*geometry.interval)
    if kind == "rectangle":
        return Rectangle(*geometry.rectangle)
    if kind == "box":
        return Box(*geometry.box)
    if kind == "disk":
        return Disk(geometry.disk.center, geometry.disk.radius)
    if kind == "polygon":
        try:
            return Polygon(checked_vertices(geometry.polygon, MAX_POLYGON_VERTICES))
        except RegionError as error:
            raise RegionError(str(error), path + ("polygon",)) from None
    return _build_csg(kind, geometry.operands, path + (kind,))


def _build_csg(kind: str, operands: list[Geometry], path: tuple) -> Region:
    regions, seen = [], {}
    for index, operand in enumerate(operands):
        if operand.name in RESERVED_NAMES:
            raise RegionError(
                f"an operand may not be called '{operand.name}' (it names a part of every region)",
                path + (index, "name"),
            )
        if operand.name is not None and operand.name in seen:
            raise RegionError(
                f"operand name '{operand.name}' is used twice (operands {seen[operand.name] + 1} "
                f"and {index + 1}); names select boundary parts and must differ",
                path + (index, "name"),
            )
        if operand.name is not None:
            seen[operand.name] = index
        region = build_region(operand, path + (index,))
        if regions and region.dim != regions[0].dim:
            raise RegionError(
                f"operand {index + 1} is {region.dim}-dimensional but operand 1 is "
                f"{regions[0].dim}-dimensional (all operands need the same dimension)",
                path + (index,),
            )
        regions.append(region)
    result = Csg(kind, regions, [op.name for op in operands])
    if accepted_fraction(result.interior(), EMPTY_CHECK_CANDIDATES) == 0:
        raise RegionError(f"the {kind} is empty: none of {EMPTY_CHECK_CANDIDATES} candidate points lies in it", path)
    return result
