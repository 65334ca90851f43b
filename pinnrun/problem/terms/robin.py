"""a*u + b*du/dn = value on a spatial boundary part; a, b and value may vary along it.
Neumann's points, normals and derivatives, with two more expression fields."""

from __future__ import annotations

from pinnrun.problem.terms.base import du_dn
from pinnrun.problem.terms.neumann import Neumann


class Robin(Neumann):
    kind = "robin"
    fields = ("a", "b", "value")

    def residual(self, env, arrays):
        a, b, g = (self.value(f, env, arrays) for f in self.fields)
        return a * env[self.output] + b * du_dn(self.space, self.output, env, arrays["normals"]) - g
