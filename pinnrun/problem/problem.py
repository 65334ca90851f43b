"""A problem: the validated spec as inputs, outputs, constants and loss terms."""
from __future__ import annotations

from dataclasses import dataclass

from pinnrun.spec.expressions import Derivative, Expression, parse
from pinnrun.spec.loader import LoadedSpec


@dataclass(frozen=True)
class Term:
    """One loss term: a PDE residual, or a condition on a part of the domain."""

    name: str
    kind: str                # "pde" | "dirichlet" | "neumann" | "initial"
    expression: Expression   # the residual (pde) or the prescribed value (conditions)
    output: str | None       # the constrained output (conditions)
    on: str | None           # the boundary part (dirichlet, neumann)
    points: int              # per rank (weak) or global (strong)
    weight: float


@dataclass(frozen=True)
class Problem:
    name: str
    space: tuple[str, ...]
    time: str | None
    outputs: tuple[str, ...]
    constants: dict[str, float]
    geometry: str                          # geometry kind
    box: tuple[tuple[float, float], ...]   # spatial bounds per space variable
    time_domain: tuple[float, float] | None
    terms: tuple[Term, ...]

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.space + ((self.time,) if self.time else ())

    @property
    def input_box(self) -> tuple[tuple[float, float], ...]:
        return self.box + ((self.time_domain,) if self.time else ())

    def derivatives_of(self, term: Term) -> frozenset[Derivative]:
        """Only the derivatives this term uses are ever computed."""
        if term.kind == "pde":
            return term.expression.derivatives
        if term.kind == "neumann":
            return frozenset(Derivative(term.output, (x,)) for x in self.space)
        return frozenset()


def build_problem(loaded: LoadedSpec) -> Problem:
    spec = loaded.spec
    space = tuple(spec.variables.space)
    time = spec.variables.time
    inputs = space + ((time,) if time else ())
    names = dict(variables=inputs, outputs=spec.outputs, constants=list(loaded.constants))
    weights = spec.training.loss_weights
    terms = [Term(name, "pde", parse(src, **names), None, None, spec.sampling.points[name], weights.get(name, 1.0))
             for name, src in spec.pde.items()]
    for name, cond in spec.conditions.items():
        value = parse(cond.value, variables=inputs, constants=list(loaded.constants))
        terms.append(Term(name, cond.kind, value, cond.output or spec.outputs[0], cond.on,
                          spec.sampling.points[name], weights.get(name, 1.0)))
    return Problem(
        name=spec.name, space=space, time=time, outputs=tuple(spec.outputs),
        constants=dict(loaded.constants), geometry=spec.geometry.kind,
        box=tuple(tuple(b) for b in spec.geometry.box),
        time_domain=tuple(spec.time_domain) if spec.time_domain else None,
        terms=tuple(terms),
    )
