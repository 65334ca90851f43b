"""Checks of a spec's reference that need the problem (its domain, terms, parsed expressions):
run once when the problem is built, so a bad reference stops the launch, not rank 0 at the end.

Errors are located: `at.error(path, message)` (a LoadedSpec or LocatedData) makes the
`file:line: field: message` line.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pinnrun.problem.reference import (
    ReferenceGrid,
    centred_initial,
    cole_hopf_initial,
    cole_hopf_viscosity,
    computable_from_outputs,
    exact_expressions,
    grid_axes,
    read_reference_file,
    with_derived,
    with_domain,
)
from pinnrun.problem.regions.interval import Interval
from pinnrun.problem.tabular import SUFFIXES, TableRefused
from pinnrun.spec.expressions import ExpressionError
from pinnrun.spec.limits import MAX_REFERENCE_BYTES
from pinnrun.spec.schema import MAX_GRID_POINTS, Reference


def check_reference(problem, ref: Reference, at, spec_dir: Path, probes) -> None:
    """Raise a located error for the first problem with `ref`.

    `probes` evaluates the expression parsed at a spec path on sampled points of its domain
    (pinnrun.problem.probe.Probes: check_exact(path), check_initial(path))."""
    if ref.exact is not None:
        paths = (
            [("reference", "exact", out) for out in ref.exact]
            if isinstance(ref.exact, dict)
            else [("reference", "exact")]
        )
        for here in paths:
            probes.check_exact(here)
        exact = exact_expressions(problem, ref)
        for name, expr in problem.derived.items():
            if name not in exact and computable_from_outputs(problem, expr) and expr.outputs <= set(exact):
                probes.check_derived_reference(name, exact)
    if ref.columns and ref.file is None:
        raise at.error(("reference", "columns"), "columns name the arrays of a data file: give file: too")
    if ref.file is not None:
        _check_file(problem, ref, at, spec_dir / ref.file)
    if ref.cole_hopf is not None:
        _check_cole_hopf(problem, ref, at, probes)
    _check_grid(problem, ref, at)


def _check_file(problem, ref: Reference, at, path: Path) -> None:
    """The file's layout as reference.py reads it, its values finite, within the same cap as on rank 0."""
    here = ("reference", "file")
    if not path.is_file():
        raise at.error(here, f"file not found: {path}")
    if path.suffix.lower() not in SUFFIXES:
        raise at.error(here, "reference data must be a .npz, .csv or .mat file")
    names = [*problem.inputs, *problem.outputs, *problem.derived]
    for name in ref.columns:
        if name not in names:
            what = "an input, output or derived quantity" if problem.derived else "an input or output"
            raise at.error(("reference", "columns", name), f"not {what} ({', '.join(names)})")
    try:
        grid = read_reference_file(
            path, problem.inputs, problem.outputs, ref.columns, MAX_REFERENCE_BYTES, list(problem.derived)
        )
    except TableRefused as err:
        raise at.error(here, f"{path.name}: {err}") from None
    grid = with_domain(problem, grid)
    inside = grid.mask()
    if not inside.any():
        raise at.error(here, f"{path.name}: none of its {math.prod(grid.shape):,} points lies inside the domain")
    computed = with_derived(problem, grid)
    for name in [n for n in computed.values if n not in grid.values]:  # from the file's outputs: finite inside
        bad = ~np.isfinite(computed.values[name]) & inside
        if bad.any():
            point = computed.points()[int(np.flatnonzero(bad.ravel())[0])]
            where = ", ".join(f"{k}={v:.6g}" for k, v in zip(problem.inputs, point))
            raise at.error(
                ("derived", name),
                f"not finite at {where} of the reference file {path.name} (computed from its outputs)",
            )


def _check_cole_hopf(problem, ref: Reference, at, probes) -> None:
    here = ("reference", "cole_hopf")
    if len(problem.space) != 1 or problem.time is None or len(problem.outputs) != 1:
        raise at.error(here, "Cole-Hopf needs one space variable, time and one output")
    if not isinstance(problem.domain.region, Interval):  # it extends u0 periodically over one interval
        raise at.error(here, "Cole-Hopf needs an interval geometry")
    if "initial" in ref.cole_hopf:
        probes.check_initial(here + ("initial",))
    elif not any(t.kind == "initial" and isinstance(t.field, str) for t in problem.terms):
        raise at.error(here, "Cole-Hopf needs u(x, 0): an initial condition, or initial: <expression> here")
    if "viscosity" not in ref.cole_hopf:
        raise at.error(here, "give viscosity: <constant expression>")
    try:
        viscosity = cole_hopf_viscosity(problem, ref)
    except (ExpressionError, ArithmeticError, ValueError) as err:
        raise at.error(here + ("viscosity",), f"cannot evaluate: {err}") from None
    if not math.isfinite(viscosity):
        raise at.error(here + ("viscosity",), f"viscosity is not finite ({viscosity})")
    if viscosity <= 0:
        raise at.error(here + ("viscosity",), "viscosity must be > 0")
    _check_zero_mean(problem, ref, at)


def _check_zero_mean(problem, ref: Reference, at) -> None:
    """Cole-Hopf extends u0 periodically; the solver's own check, run before any process starts."""
    from pinnrun.problem.cole_hopf import check_zero_mean

    initial, here = cole_hopf_initial(problem, ref)
    (x,), t = problem.space, problem.time
    ((lo, hi),) = problem.box
    try:
        check_zero_mean(
            centred_initial(initial, x, t, problem.time_domain[0], problem.constants, (lo + hi) / 2), hi - lo
        )
    except ValueError as err:
        raise at.error(here, f"Cole-Hopf needs u(x, 0) with zero mean over the interval: {err}") from None


def _check_grid(problem, ref: Reference, at) -> None:
    """Grid counts name inputs, the grid fits rank 0, and some of it lies inside the domain."""
    for name in ref.grid:
        if name not in problem.inputs:
            raise at.error(("reference", "grid", name), f"not an input variable ({', '.join(problem.inputs)})")
    if ref.file is not None:
        return  # the file's own points; its size is capped by MAX_REFERENCE_BYTES
    axes = grid_axes(problem, ref.grid)
    counts = {name: len(axis) for name, axis in axes.items()}
    total = math.prod(counts.values())
    if total > MAX_GRID_POINTS:
        shown = " x ".join(f"{n} ({name})" for name, n in counts.items())
        raise at.error(
            ("reference", "grid"),
            f"{shown} = {total:,} points; at most {MAX_GRID_POINTS:,} (rank 0 evaluates the whole grid)",
        )
    grid = with_domain(problem, ReferenceGrid(axes, {}))
    if not np.any(grid.mask()):
        raise at.error(
            ("reference", "grid"),
            f"no point of the {' x '.join(map(str, grid.shape))} grid lies "
            "inside the domain; give more points per axis",
        )
