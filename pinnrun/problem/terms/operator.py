"""Any expression of inputs, outputs and derivatives = 0 on a boundary part (or `initial`),
e.g. `u_x - v` to tie two outputs together on an inlet."""

from __future__ import annotations

from pinnrun.problem.terms.base import PartTerm, Setting


class Operator(PartTerm):
    kind = "operator"
    fields = ("residual",)

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, cond, setting, setting.part(("conditions", name, "on"), cond.on))

    @property
    def derivatives(self):
        return self.exprs["residual"].derivatives

    def residual(self, env, arrays):
        return self.value("residual", env, arrays)
