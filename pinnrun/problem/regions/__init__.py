"""Regions: dimension, bounding box, containment, named boundary parts with outward normals,
measure and unit-cube samplers for the interior and each part (see base.py)."""

from pinnrun.problem.regions.base import PartSampler, Region, RegionError
from pinnrun.problem.regions.build import build_region
from pinnrun.problem.regions.pairing import paired_translation
from pinnrun.problem.regions.spacetime import SpaceTime

__all__ = ["PartSampler", "Region", "RegionError", "SpaceTime", "build_region", "paired_translation"]
