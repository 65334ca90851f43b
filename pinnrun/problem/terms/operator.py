"""Any expression of inputs, outputs and derivatives = 0 on a boundary part (or `initial`),
e.g. `u_x - v` to tie two outputs together on an inlet."""
from __future__ import annotations

from pinnrun.problem.terms.base import Batch, Draw, Setting, Term, draw_on


class Operator(Term):
    kind = "operator"

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, setting.weights.get(name, 1.0), setting.points[name])
        self.part = setting.part(("conditions", name, "on"), cond.on)
        self.path = ("conditions", name, "residual")
        self.expression = setting.expressions[self.path]

    @property
    def expressions(self):
        return {self.path: self.expression}

    @property
    def derivatives(self):
        return self.expression.derivatives

    def sample(self, where: Draw) -> Batch:
        block = self.counted(where)
        x, _ = draw_on(where, self.part, block)
        return Batch(x, block)

    def residual(self, env, arrays):
        return self.expression.evaluate(env, backend="tf")
