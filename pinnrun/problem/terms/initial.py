"""output = value at the start time, or a time derivative of it (`derivative: u_t`)."""

from __future__ import annotations

from pinnrun.problem.terms.base import PartTerm, Setting


class Initial(PartTerm):
    kind = "initial"

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, cond, setting, "initial")
        self.field = setting.derivative(("conditions", name, "derivative")) if cond.derivative else self.output

    @property
    def derivatives(self):
        return frozenset() if isinstance(self.field, str) else frozenset([self.field])

    def residual(self, env, arrays):
        return env[self.field] - self.value("value", env, arrays)
