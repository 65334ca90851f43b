"""A problem: the validated spec as inputs, outputs, a domain, parameters and loss terms."""

from __future__ import annotations

from dataclasses import dataclass, field

from pinnrun.problem.regions.base import Region
from pinnrun.problem.terms.base import Term
from pinnrun.spec.expressions import Expression
from pinnrun.spec.schema import Parameter, Reference


@dataclass(frozen=True)
class Problem:
    name: str
    space: tuple[str, ...]
    time: str | None
    outputs: tuple[str, ...]
    constants: dict[str, float]
    parameters: dict[str, Parameter]
    domain: Region  # space x time when there is time (time last)
    terms: tuple[Term, ...]
    output_transform: dict[str, Expression] = field(default_factory=dict)
    derived: dict[str, Expression] = field(default_factory=dict)  # name -> expression of outputs, derivatives
    reference: Reference | None = None
    expressions: dict[tuple, Expression] = field(default_factory=dict)  # every parsed expression, by spec path

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.space + ((self.time,) if self.time else ())

    @property
    def input_box(self) -> tuple[tuple[float, float], ...]:
        return tuple((float(lo), float(hi)) for lo, hi in self.domain.bounding_box())

    @property
    def time_domain(self) -> tuple[float, float] | None:
        return self.input_box[-1] if self.time else None

    @property
    def box(self) -> tuple[tuple[float, float], ...]:
        """The spatial bounding box."""
        return self.input_box[: len(self.space)]

    def derived_derivatives(self) -> frozenset:
        """The derivatives the derived quantities need."""
        return frozenset().union(*(expr.derivatives for expr in self.derived.values()))

    def expression(self, *path) -> Expression:
        return self.expressions[tuple(path)]
