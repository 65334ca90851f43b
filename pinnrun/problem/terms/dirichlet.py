"""output = value on a boundary part (or on `initial`, the start time)."""

from __future__ import annotations

from pinnrun.problem.terms.base import PartTerm, Setting


class Dirichlet(PartTerm):
    kind = "dirichlet"

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, cond, setting, setting.part(("conditions", name, "on"), cond.on))

    def residual(self, env, arrays):
        return env[self.output] - self.value("value", env, arrays)
