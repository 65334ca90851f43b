"""A PDE residual on the interior of the domain (space x time when there is time)."""

from __future__ import annotations

from pinnrun.problem.terms.base import Batch, Draw, Setting, Term, draw_on


class Residual(Term):
    kind = "pde"

    def __init__(self, name: str, setting: Setting):
        super().__init__(name, setting.weights.get(name, 1.0), setting.points[name])
        self.path = ("pde", name)
        self.expression = setting.expressions[self.path]

    @property
    def expressions(self):
        return {self.path: self.expression}

    @property
    def derivatives(self):
        return self.expression.derivatives

    def sample(self, where: Draw) -> Batch:
        block = self.counted(where)
        x, _ = draw_on(where, None, block)
        return Batch(x, block)

    def residual(self, env, arrays):
        return self.expression.evaluate(env, backend="tf")
