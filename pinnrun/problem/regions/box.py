"""Box (3D): parts left/right (x), front/back (y), bottom/top (z), boundary (faces by area share)."""

from __future__ import annotations

from pinnrun.problem.regions.axis_box import AxisBox


class Box(AxisBox):
    def __init__(self, x_bounds, y_bounds, z_bounds):
        super().__init__([x_bounds, y_bounds, z_bounds])
