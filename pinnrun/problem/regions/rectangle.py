"""Rectangle: parts left/right (x min/max), bottom/top (y min/max), boundary (sides by length share)."""

from __future__ import annotations

from pinnrun.problem.regions.axis_box import AxisBox


class Rectangle(AxisBox):
    def __init__(self, x_bounds, y_bounds):
        super().__init__([x_bounds, y_bounds])
