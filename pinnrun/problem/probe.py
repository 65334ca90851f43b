"""Evaluate every expression of a spec on a few points of its own domain, at validation.

A residual that is `inf` everywhere (`u_xx + 9**9**9**9*u`), a boundary value of
`1/0` or a reference of `sqrt(-1)` parses fine and would fail only once the
ranks have started; here it fails first, as one located line.

Unknowns get probe values: the network's outputs and their derivatives are
unknown until training, so residuals and output transforms see them as values
drawn from [PROBE_LOW, PROBE_HIGH]. That range is positive and away from 0 and 1,
so log(u), sqrt(u), 1/u, asin(u) or log(1 - u) of a physical quantity give no
false alarm, while anything non-finite for every such value is refused.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np

from pinnrun.problem.problem import Problem
from pinnrun.problem.terms.base import Draw
from pinnrun.sampling.collocation import term_seed
from pinnrun.spec.expressions import Derivative, Expression, ExpressionError
from pinnrun.spec.loader import LoadedSpec

PROBE_POINTS = 64  # per term: enough to meet a singular corner, cheap enough to keep validation fast
PROBE_LOW, PROBE_HIGH = 0.3, 0.7
_PROBE_SEED = 0  # probe values are the same on every run: a spec is valid or not, not by luck

_EVALUATION_ERRORS = (ExpressionError, ArithmeticError, ValueError, TypeError)


class Probes:
    """PROBE_POINTS points of every term (its own part of the domain), and checks on them."""

    def __init__(self, loaded: LoadedSpec, problem: Problem):
        spec = loaded.spec
        self.loaded, self.problem = loaded, problem
        self.dtype = np.dtype(spec.network.dtype)  # residuals and targets live in the network's dtype
        self.points: dict[str, np.ndarray] = {}
        for index, term in enumerate(problem.terms):
            if term.kind == "data":  # its points are the observations, read and checked already
                self.points[term.name] = term.x[:PROBE_POINTS]
                continue
            probe = copy.copy(term)
            probe.points = PROBE_POINTS
            here = next(iter(term.expressions), ("conditions", term.name))
            with np.errstate(all="ignore"):
                try:  # a condition's value is evaluated while sampling: its failure is the value's
                    batch = probe.sample(
                        Draw(problem, spec.sampling.method, term_seed(spec.training.seed, index), 0, 1, "weak")
                    )
                except _EVALUATION_ERRORS as err:
                    raise loaded.error(here, f"cannot evaluate: {err}") from None
            self.points[term.name] = batch.x
            for key, values in batch.arrays.items():
                self._require_finite(here, values[:, 0], batch.x, self.dtype)

    # -- the parts of a spec ------------------------------------------------------------

    def check_terms(self) -> None:
        """Every expression of every term, at that term's points."""
        for term in self.problem.terms:
            x = self.points[term.name]
            for here, expr in term.expressions.items():
                self._evaluate(here, expr, x, self._unknowns(expr, len(x)))

    def check_output_transforms(self) -> None:
        """A transform runs wherever the network does: at every term's points."""
        x = np.concatenate(list(self.points.values()))
        for out, expr in self.problem.output_transform.items():
            self._evaluate(("network", "output_transform", out), expr, x, self._unknowns(expr, len(x)))

    def check_derived(self) -> None:
        """A derived quantity is predicted on the reference's points: the whole domain."""
        x = self._interior()
        for name, expr in self.problem.derived.items():
            self._evaluate(("derived", name), expr, x, self._unknowns(expr, len(x)))

    def check_exact(self, here: tuple) -> None:
        """A reference expression (parsed at validation: found by its path) on the interior
        samples and every corner of the domain's box that lies in the domain."""
        self._evaluate(here, self.problem.expressions[here], self._exact_points(), {}, np.dtype(np.float64))

    def check_derived_reference(self, name: str, exact: dict[str, Expression]) -> None:
        """A derived quantity's reference computed from exact outputs (`exact`: output -> its
        expression), at the points check_exact uses."""
        x = self._exact_points()
        env = {k: x[:, i] for i, k in enumerate(self.problem.inputs)} | self.problem.constants
        with np.errstate(all="ignore"):  # a non-finite output is check_exact's to report
            outputs = {
                out: np.broadcast_to(np.asarray(exact[out].evaluate(env), dtype=np.float64), (len(x),))
                for out in self.problem.derived[name].outputs
            }
        self._evaluate(
            ("derived", name), self.problem.derived[name], x, outputs, np.dtype(np.float64), "the reference's values"
        )

    def check_initial(self, here: tuple) -> None:
        """u(x, t0) for Cole-Hopf, on the interior samples' x at the start time."""
        expr = self.problem.expressions[here]
        x = self._interior().copy()
        x[:, -1] = self.problem.time_domain[0]
        self._evaluate(here, expr, x, {}, np.dtype(np.float64))

    # -- helpers ------------------------------------------------------------------------

    def _exact_points(self) -> np.ndarray:
        corners = np.array(list(itertools.product(*self.problem.input_box)), dtype=np.float64)
        corners = corners[self.problem.domain.contains(corners)]
        return np.concatenate([self._interior(), corners])

    def _interior(self) -> np.ndarray:
        """Samples of the whole domain: the first pde term's (every spec has one)."""
        first = next(t for t in self.problem.terms if t.kind == "pde")
        return self.points[first.name]

    def _unknowns(self, expr: Expression, n: int) -> dict:
        """Probe values for the outputs and derivatives an expression uses; parameters
        at their initial values (where training starts)."""
        rng = np.random.default_rng(_PROBE_SEED)
        keys = sorted(expr.outputs) + sorted(expr.derivatives, key=lambda d: d.name)
        values = {k: rng.uniform(PROBE_LOW, PROBE_HIGH, n).astype(self.dtype) for k in keys}
        return values | {
            name: self.problem.parameters[name].initial for name in expr.constants if name in self.problem.parameters
        }

    def _evaluate(
        self,
        here: tuple,
        expr: Expression,
        x: np.ndarray,
        unknowns: dict,
        dtype: np.dtype | None = None,
        unknowns_are: str = "probe values",
    ) -> None:
        dtype = dtype or self.dtype
        env = {name: x[:, i].astype(dtype) for i, name in enumerate(self.problem.inputs)}
        env |= unknowns | self.problem.constants
        with np.errstate(all="ignore"):
            try:
                value = expr.evaluate(env)
            except _EVALUATION_ERRORS as err:
                raise self.loaded.error(here, f"cannot evaluate: {err}") from None
        if np.iscomplexobj(value):
            raise self.loaded.error(here, "gives a complex number")
        values = np.broadcast_to(np.asarray(value), (len(x),))
        self._require_finite(here, values, x, dtype, unknowns, unknowns_are)

    def _require_finite(
        self,
        here: tuple,
        values: np.ndarray,
        x: np.ndarray,
        dtype: np.dtype,
        unknowns: dict | None = None,
        unknowns_are: str = "probe values",
    ) -> None:
        with np.errstate(all="ignore"):
            bad = np.flatnonzero(~np.isfinite(np.asarray(values, dtype=np.float64).astype(dtype)))
        if not len(bad):
            return
        i = bad[0]
        where = ", ".join(f"{name}={x[i, k]:.6g}" for k, name in enumerate(self.problem.inputs))
        probes = ", ".join(
            f"{k.name if isinstance(k, Derivative) else k}={np.ravel(v)[i % np.size(v)]:.3g}"
            for k, v in (unknowns or {}).items()
        )
        in_dtype = f" in {dtype.name}" if np.isfinite(values[i]) else ""
        raise self.loaded.error(
            here,
            f"not finite at {where}"
            + (f" with {unknowns_are} {probes}" if probes else "")
            + f" ({values[i]:.6g}{in_dtype})",
        )
