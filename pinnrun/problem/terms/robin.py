"""a*u + b*du/dn = value on a spatial boundary part; a, b and value may vary along it."""
from __future__ import annotations

from pinnrun.problem.terms.base import PartTerm, Setting, du_dn, normal_derivative
from pinnrun.problem.terms.neumann import spatial_part


class Robin(PartTerm):
    kind = "robin"
    fields = ("a", "b", "value")
    normals = True

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, cond, setting, spatial_part(setting, ("conditions", name, "on"), cond.on))

    @property
    def derivatives(self):
        return normal_derivative(self.space, self.output)

    def residual(self, env, arrays):
        a, b, g = (self.value(f, env, arrays) for f in self.fields)
        return a * env[self.output] + b * du_dn(self.space, self.output, env, arrays["normals"]) - g
