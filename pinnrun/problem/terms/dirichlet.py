"""output = value on a boundary part (or on `initial`, the start time)."""
from __future__ import annotations

from pinnrun.problem.terms.base import Batch, Draw, Setting, Term, draw_on, precomputed, prescribed


class Dirichlet(Term):
    kind = "dirichlet"

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, setting.weights.get(name, 1.0), setting.points[name])
        self.part = setting.part(("conditions", name, "on"), cond.on)
        self.output = cond.output or setting.outputs[0]
        self.value_path = ("conditions", name, "value")
        self.value = setting.expressions[self.value_path]

    @property
    def expressions(self):
        return {self.value_path: self.value}

    def sample(self, where: Draw) -> Batch:
        block = self.counted(where)
        x, _ = draw_on(where, self.part, block)
        target = precomputed(self.value, where.problem, x)
        return Batch(x, block, {} if target is None else {"target": target})

    def residual(self, env, arrays):
        return env[self.output] - prescribed(self.value, env, arrays)
