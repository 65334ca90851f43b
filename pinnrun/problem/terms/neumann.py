"""du/dn = value on a spatial boundary part (n: the outward unit normal)."""
from __future__ import annotations

from pinnrun.problem.terms.base import (Batch, Draw, Setting, Term, TermError, draw_on, du_dn, normal_derivative,
                                        precomputed, prescribed)


def spatial_part(setting: Setting, path: tuple, on: str) -> str:
    """Normal derivatives are spatial: the start time is no boundary part for them."""
    if on == "initial":
        raise TermError(path, "a normal derivative at the start time is an initial condition: "
                              "kind: initial with derivative: <output>_<time>")
    return setting.part(path, on)


class Neumann(Term):
    kind = "neumann"

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, setting.weights.get(name, 1.0), setting.points[name])
        self.space = setting.space
        self.part = spatial_part(setting, ("conditions", name, "on"), cond.on)
        self.output = cond.output or setting.outputs[0]
        self.value_path = ("conditions", name, "value")
        self.value = setting.expressions[self.value_path]

    @property
    def expressions(self):
        return {self.value_path: self.value}

    @property
    def derivatives(self):
        return normal_derivative(self.space, self.output)

    def sample(self, where: Draw) -> Batch:
        block = self.counted(where)
        x, normals = draw_on(where, self.part, block)
        arrays = {"normals": normals[:, :len(self.space)]}
        target = precomputed(self.value, where.problem, x)
        if target is not None:
            arrays["target"] = target
        return Batch(x, block, arrays)

    def residual(self, env, arrays):
        return du_dn(self.space, self.output, env, arrays["normals"]) - prescribed(self.value, env, arrays)
