"""output = value at the start time, or a time derivative of it (`derivative: u_t`)."""
from __future__ import annotations

from pinnrun.problem.terms.base import Batch, Draw, Setting, Term, draw_on, precomputed, prescribed


class Initial(Term):
    kind = "initial"
    part = "initial"

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, setting.weights.get(name, 1.0), setting.points[name])
        self.field = setting.derivative(cond.derivative) if cond.derivative else (cond.output or setting.outputs[0])
        self.value_path = ("conditions", name, "value")
        self.value = setting.expressions[self.value_path]

    @property
    def expressions(self):
        return {self.value_path: self.value}

    @property
    def derivatives(self):
        return frozenset() if isinstance(self.field, str) else frozenset([self.field])

    def sample(self, where: Draw) -> Batch:
        block = self.counted(where)
        x, _ = draw_on(where, self.part, block)
        target = precomputed(self.value, where.problem, x)
        return Batch(x, block, {} if target is None else {"target": target})

    def residual(self, env, arrays):
        return env[self.field] - prescribed(self.value, env, arrays)
