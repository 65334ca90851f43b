"""du/dn = value on a spatial boundary part (n: the outward unit normal)."""

from __future__ import annotations

from pinnrun.problem.terms.base import PartTerm, Setting, TermError, du_dn, normal_derivative


def spatial_part(setting: Setting, path: tuple, on: str) -> str:
    """Normal derivatives are spatial: the start time is no boundary part for them."""
    if on == "initial":
        raise TermError(
            path,
            "a normal derivative at the start time is an initial condition: "
            "kind: initial with derivative: <output>_<time>",
        )
    return setting.part(path, on)


class Neumann(PartTerm):
    kind = "neumann"
    normals = True

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, cond, setting, spatial_part(setting, ("conditions", name, "on"), cond.on))

    @property
    def derivatives(self):
        return normal_derivative(self.space, self.output)

    def residual(self, env, arrays):
        return du_dn(self.space, self.output, env, arrays["normals"]) - self.value("value", env, arrays)
