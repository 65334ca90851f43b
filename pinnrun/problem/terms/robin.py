"""a*u + b*du/dn = value on a spatial boundary part; a, b and value may vary along it."""
from __future__ import annotations

from pinnrun.problem.terms.base import (Batch, Draw, Setting, Term, draw_on, du_dn, normal_derivative, precomputed,
                                        prescribed)
from pinnrun.problem.terms.neumann import spatial_part


class Robin(Term):
    kind = "robin"

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, setting.weights.get(name, 1.0), setting.points[name])
        self.space = setting.space
        self.part = spatial_part(setting, ("conditions", name, "on"), cond.on)
        self.output = cond.output or setting.outputs[0]
        self.paths = {key: ("conditions", name, key) for key in ("a", "b", "value")}
        self.exprs = {key: setting.expressions[path] for key, path in self.paths.items()}

    @property
    def expressions(self):
        return {self.paths[k]: e for k, e in self.exprs.items()}

    @property
    def derivatives(self):
        return normal_derivative(self.space, self.output)

    def sample(self, where: Draw) -> Batch:
        block = self.counted(where)
        x, normals = draw_on(where, self.part, block)
        arrays = {"normals": normals[:, :len(self.space)]}
        for key, expr in self.exprs.items():
            value = precomputed(expr, where.problem, x)
            if value is not None:
                arrays[key] = value
        return Batch(x, block, arrays)

    def residual(self, env, arrays):
        a, b, g = (prescribed(self.exprs[k], env, arrays, k) for k in ("a", "b", "value"))
        return a * env[self.output] + b * du_dn(self.space, self.output, env, arrays["normals"]) - g
