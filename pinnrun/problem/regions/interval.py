"""Interval [lo, hi]: parts left, right (points) and boundary (u < 0.5 picks left)."""

from __future__ import annotations

from pinnrun.problem.regions.axis_box import AxisBox


class Interval(AxisBox):
    def __init__(self, lo: float, hi: float):
        super().__init__([(lo, hi)])
