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

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np

from pinnrun.problem.problem import Problem, build_problem
from pinnrun.sampling.collocation import sample_term
from pinnrun.spec.expressions import Derivative, Expression, ExpressionError, parse
from pinnrun.spec.loader import LoadedSpec
from pinnrun.spec.schema import Spec
from pinnrun.spec.yaml_lines import LocatedData

PROBE_POINTS = 64      # per term: enough to meet a singular corner, cheap enough to keep validation fast
PROBE_LOW, PROBE_HIGH = 0.3, 0.7
_PROBE_SEED = 0        # probe values are the same on every run: a spec is valid or not, not by luck

_EVALUATION_ERRORS = (ExpressionError, ArithmeticError, ValueError, TypeError)


class Probes:
    """The spec's problem and PROBE_POINTS sampled points of every term (its own region)."""

    def __init__(self, spec: Spec, at: LocatedData, spec_path: Path, constants: dict[str, float]):
        self.spec, self.at = spec, at
        self.problem: Problem = build_problem(LoadedSpec(spec, constants, spec_path))
        self.dtype = np.dtype(spec.network.dtype)  # residuals and targets live in the network's dtype
        self.points: dict[str, np.ndarray] = {}
        for index, term in enumerate(self.problem.terms):
            probe = replace(term, points=PROBE_POINTS)
            here = ("pde", term.name) if term.kind == "pde" else ("conditions", term.name, "value")
            with np.errstate(all="ignore"):
                try:  # a condition's value is evaluated while sampling: its failure is the value's
                    sampled = sample_term(self.problem, probe, index, spec.sampling.method,
                                          spec.training.seed, 0, 1, "weak")
                except _EVALUATION_ERRORS as err:
                    raise at.error(here, f"cannot evaluate: {err}") from None
            self.points[term.name] = sampled.x
            if sampled.target is not None:
                self._require_finite(here, sampled.target[:, 0], sampled.x, self.dtype)

    # -- the parts of a spec ------------------------------------------------------------

    def check_residuals(self) -> None:
        for term in self.problem.terms:
            if term.kind == "pde":
                x = self.points[term.name]
                self._evaluate(("pde", term.name), term.expression, x, self._unknowns(term.expression, len(x)))

    def check_output_transforms(self) -> None:
        """A transform runs wherever the network does: at every term's points."""
        x = np.concatenate(list(self.points.values()))
        names = self._names()
        for out, source in self.spec.network.output_transform.items():
            expr = parse(source, **names)
            self._evaluate(("network", "output_transform", out), expr, x, self._unknowns(expr, len(x)))

    def check_exact(self, here: tuple, source) -> None:
        """A reference expression on the interior samples and every corner of the reference grid."""
        expr = parse(source, variables=self.problem.inputs, constants=list(self.problem.constants))
        corners = np.array(list(itertools.product(*self.problem.input_box)), dtype=np.float64)
        self._evaluate(here, expr, np.concatenate([self._interior(), corners]), {}, np.dtype(np.float64))

    def check_initial(self, here: tuple, source) -> None:
        """u(x, t0) for Cole-Hopf, on the interior samples' x at the start time."""
        expr = parse(source, variables=self.problem.inputs, constants=list(self.problem.constants))
        x = self._interior().copy()
        x[:, -1] = self.problem.time_domain[0]
        self._evaluate(here, expr, x, {}, np.dtype(np.float64))

    # -- helpers ------------------------------------------------------------------------

    def _names(self) -> dict:
        return dict(variables=self.problem.inputs, outputs=self.problem.outputs,
                    constants=list(self.problem.constants))

    def _interior(self) -> np.ndarray:
        """Samples over the whole input box: the first pde term's (every spec has one)."""
        first = next(t for t in self.problem.terms if t.kind == "pde")
        return self.points[first.name]

    def _unknowns(self, expr: Expression, n: int) -> dict:
        """Probe values for the outputs and derivatives an expression uses."""
        rng = np.random.default_rng(_PROBE_SEED)
        keys = sorted(expr.outputs) + sorted(expr.derivatives, key=lambda d: d.name)
        return {k: rng.uniform(PROBE_LOW, PROBE_HIGH, n).astype(self.dtype) for k in keys}

    def _evaluate(self, here: tuple, expr: Expression, x: np.ndarray, unknowns: dict,
                  dtype: np.dtype | None = None) -> None:
        dtype = dtype or self.dtype
        env = {name: x[:, i].astype(dtype) for i, name in enumerate(self.problem.inputs)}
        env |= unknowns | self.problem.constants
        with np.errstate(all="ignore"):
            try:
                value = expr.evaluate(env)
            except _EVALUATION_ERRORS as err:
                raise self.at.error(here, f"cannot evaluate: {err}") from None
        if np.iscomplexobj(value):
            raise self.at.error(here, "gives a complex number")
        values = np.broadcast_to(np.asarray(value), (len(x),))
        self._require_finite(here, values, x, dtype, unknowns)

    def _require_finite(self, here: tuple, values: np.ndarray, x: np.ndarray, dtype: np.dtype,
                        unknowns: dict | None = None) -> None:
        with np.errstate(all="ignore"):
            bad = np.flatnonzero(~np.isfinite(np.asarray(values, dtype=np.float64).astype(dtype)))
        if not len(bad):
            return
        i = bad[0]
        where = ", ".join(f"{name}={x[i, k]:.6g}" for k, name in enumerate(self.problem.inputs))
        probes = ", ".join(f"{k.name if isinstance(k, Derivative) else k}={v[i]:.3g}"
                           for k, v in (unknowns or {}).items())
        in_dtype = f" in {dtype.name}" if np.isfinite(values[i]) else ""
        raise self.at.error(here, f"not finite at {where}" + (f" with probe values {probes}" if probes else "")
                            + f" ({values[i]:.6g}{in_dtype})")
