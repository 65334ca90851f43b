"""Cross-field checks of a schema-valid spec: names, expressions, terms, geometry."""
from __future__ import annotations

import keyword
import math
from pathlib import Path

from pinnrun.problem.cole_hopf import check_zero_mean
from pinnrun.problem.geometry import boundary_parts
from pinnrun.spec.expressions import RESERVED_NAMES, ExpressionError, evaluate_constants, parse
from pinnrun.spec.memory import MAX_RANK_BYTES, estimate_rank_memory, grid_counts, human_bytes
from pinnrun.spec.probe import Probes
from pinnrun.spec.schema import MAX_GRID_POINTS, Spec
from pinnrun.spec.yaml_lines import LocatedData


def check_semantics(spec: Spec, at: LocatedData, spec_path: Path) -> dict[str, float]:
    """Raise a located SpecError for the first problem; return the constants' values."""
    space, time = spec.variables.space, spec.variables.time
    inputs = space + ([time] if time else [])
    _check_names(spec, at, inputs)
    try:
        constants = evaluate_constants(dict(spec.constants))
    except ExpressionError as err:
        name = str(err).split(":", 1)[0]
        raise at.error(("constants", name) if name in spec.constants else ("constants",), str(err)) from None

    if (time is None) != (spec.time_domain is None):
        raise at.error(("time_domain",) if time is None else ("variables", "time"),
                       "variables.time and time_domain go together: give both or neither")
    if spec.time_domain and not spec.time_domain[0] < spec.time_domain[1]:
        raise at.error(("time_domain",), "time_domain must be increasing")
    dims = len(spec.geometry.box)
    if dims != len(space):
        raise at.error(("geometry", spec.geometry.kind),
                       f"a {spec.geometry.kind} has {dims} dimension(s) but variables.space has {len(space)}")

    names = dict(variables=inputs, outputs=spec.outputs, constants=list(constants))
    for term, source in spec.pde.items():
        expr = _parse(at, ("pde", term), source, **names)
        if not (expr.outputs or expr.derivatives):
            raise at.error(("pde", term), "a residual must involve an output or its derivatives")

    for out, source in spec.network.output_transform.items():
        here = ("network", "output_transform", out)
        if out not in spec.outputs:
            raise at.error(here, f"unknown output (outputs: {', '.join(spec.outputs)})")
        expr = _parse(at, here, source, **names)
        if expr.derivatives:
            raise at.error(here, "an output transform cannot use derivatives")
        if out not in expr.outputs:
            raise at.error(here, f"the transform must use the network's raw output '{out}' (else nothing is trained)")

    parts = boundary_parts(spec.geometry.kind)
    for term, cond in spec.conditions.items():
        here = ("conditions", term)
        if cond.output is None and len(spec.outputs) > 1:
            raise at.error(here, f"several outputs: say which with output: ({', '.join(spec.outputs)})")
        if cond.output is not None and cond.output not in spec.outputs:
            raise at.error(here + ("output",), f"unknown output '{cond.output}' (outputs: {', '.join(spec.outputs)})")
        if cond.kind == "initial":
            if time is None:
                raise at.error(here + ("kind",), "an initial condition needs variables.time")
            if cond.on is not None:
                raise at.error(here + ("on",), "an initial condition holds on the whole domain at the start time; drop 'on'")
        elif cond.on not in parts:
            raise at.error(here + ("on",) if cond.on else here,
                           f"where a {cond.kind} condition holds: on: one of {', '.join(parts)}")
        _parse(at, here + ("value",), cond.value, variables=inputs, constants=list(constants))

    terms = list(spec.pde) + list(spec.conditions)
    dupes = set(spec.pde) & set(spec.conditions)
    if dupes:
        raise at.error(("conditions", sorted(dupes)[0]), "a condition cannot share its name with a pde term")
    missing = [t for t in terms if t not in spec.sampling.points]
    if missing:
        raise at.error(("sampling", "points"), f"no point count for term(s): {', '.join(missing)}")
    for term in spec.sampling.points:
        if term not in terms:
            raise at.error(("sampling", "points", term), f"unknown term (terms: {', '.join(terms)})")
    for term, weight in spec.training.loss_weights.items():
        if term not in terms:
            raise at.error(("training", "loss_weights", term), f"unknown term (terms: {', '.join(terms)})")
        if weight < 0:
            raise at.error(("training", "loss_weights", term), "a loss weight must be >= 0")

    # Every expression on a few points of its own domain: what fails there would fail on the ranks.
    probes = Probes(spec, at, spec_path, constants)  # condition values are checked as they are sampled
    probes.check_residuals()
    probes.check_output_transforms()
    if spec.reference is not None:
        _check_reference(spec, at, spec_path, inputs, constants, probes)
    _check_memory(spec, at)
    return constants


def _check_memory(spec: Spec, at: LocatedData) -> None:
    """One rank below a fixed ceiling, wherever it will run; the ranks a launch places on this
    host are checked against its memory at launch, once their number is known (strong-scaling
    points are shared between them)."""
    estimate = estimate_rank_memory(spec, ranks=1 if spec.scaling == "weak" else None)
    if estimate.total > MAX_RANK_BYTES:
        raise at.error(estimate.blame, f"one rank needs about {human_bytes(estimate.total)} "
                                       f"({estimate.detail}); at most {human_bytes(MAX_RANK_BYTES)} a rank")


def _check_names(spec: Spec, at: LocatedData, inputs: list[str]) -> None:
    seen: dict[str, tuple] = {}
    groups = [(("variables",), inputs), (("outputs",), spec.outputs), (("constants",), list(spec.constants))]
    for where, names in groups:
        for name in names:
            if name in RESERVED_NAMES:
                raise at.error(where, f"'{name}' is reserved (a constant or function of the expression language)")
            if keyword.iskeyword(name):
                raise at.error(where, f"'{name}' is a reserved word; use another name (e.g. '{name}_')"
                               if "_" not in name else f"'{name}' is a reserved word")
            if name in seen:
                raise at.error(where, f"name '{name}' is used twice (also in {'.'.join(seen[name])})")
            seen[name] = where


def _parse(at: LocatedData, path: tuple, source, variables=(), outputs=(), constants=()):
    try:
        return parse(source, variables=variables, outputs=outputs, constants=constants)
    except ExpressionError as err:
        raise at.error(path, str(err)) from None


def _check_reference(spec: Spec, at: LocatedData, spec_path: Path, inputs, constants, probes: Probes) -> None:
    ref = spec.reference
    if ref.exact is not None:
        exprs = ref.exact if isinstance(ref.exact, dict) else {spec.outputs[0]: ref.exact}
        if not isinstance(ref.exact, dict) and len(spec.outputs) > 1:
            raise at.error(("reference", "exact"), "several outputs: give a mapping output: expression")
        for out, source in exprs.items():
            if out not in spec.outputs:
                raise at.error(("reference", "exact", out), f"unknown output (outputs: {', '.join(spec.outputs)})")
            here = ("reference", "exact", out) if isinstance(ref.exact, dict) else ("reference", "exact")
            _parse(at, here, source, variables=inputs, constants=list(constants))
            probes.check_exact(here, source)
    if ref.file is not None:
        path = (spec_path.parent / ref.file)
        if not path.is_file():
            raise at.error(("reference", "file"), f"file not found: {path}")
        if path.suffix != ".npz":
            raise at.error(("reference", "file"), "reference data must be a .npz file")
        _check_reference_file(at, path, inputs, spec.outputs)
    if ref.cole_hopf is not None:
        if len(spec.variables.space) != 1 or spec.variables.time is None or len(spec.outputs) != 1:
            raise at.error(("reference", "cole_hopf"), "Cole-Hopf needs one space variable, time and one output")
        if "initial" in ref.cole_hopf:
            _parse(at, ("reference", "cole_hopf", "initial"), ref.cole_hopf["initial"],
                   variables=inputs, constants=list(constants))
            probes.check_initial(("reference", "cole_hopf", "initial"), ref.cole_hopf["initial"])
        elif not any(c.kind == "initial" for c in spec.conditions.values()):
            raise at.error(("reference", "cole_hopf"),
                           "Cole-Hopf needs u(x, 0): an initial condition, or initial: <expression> here")
        if "viscosity" not in ref.cole_hopf:
            raise at.error(("reference", "cole_hopf"), "give viscosity: <constant expression>")
        here = ("reference", "cole_hopf", "viscosity")
        viscosity = _parse(at, here, ref.cole_hopf["viscosity"], constants=list(constants))
        try:
            value = float(viscosity.evaluate(constants))
        except (ExpressionError, ArithmeticError, ValueError) as err:
            raise at.error(here, f"cannot evaluate: {err}") from None
        if not math.isfinite(value):
            raise at.error(here, f"viscosity is not finite ({value})")
        if value <= 0:
            raise at.error(here, "viscosity must be > 0")
        _check_zero_mean(at, spec, constants)
    for name in ref.grid:
        if name not in inputs:
            raise at.error(("reference", "grid", name), f"not an input variable ({', '.join(inputs)})")
    counts = grid_counts(spec)
    total = math.prod(counts.values())
    if ref.file is None and total > MAX_GRID_POINTS:
        counts = " x ".join(f"{n} ({name})" for name, n in counts.items())
        raise at.error(("reference", "grid"), f"{counts} = {total:,} points; at most {MAX_GRID_POINTS:,} "
                                              "(rank 0 evaluates the whole grid)")


def _check_reference_file(at: LocatedData, path: Path, inputs, outputs) -> None:
    """The layout reference.py reads: a 1-D axis per input, an output array on that grid.

    Shapes come from the .npy headers (nothing decompressed); then the arrays
    are read, within the same cap as on rank 0, to refuse NaN or inf before any rank starts.
    """
    from math import prod

    from pinnrun.problem.npz import NpzRefused, load_npz, npz_headers
    from pinnrun.spec.limits import MAX_REFERENCE_BYTES

    names = [*inputs, *outputs]
    try:
        headers = npz_headers(path, MAX_REFERENCE_BYTES)
        missing = [k for k in names if k not in headers]
        if missing:
            raise NpzRefused(f"lacks array(s) {', '.join(missing)} (has {', '.join(headers) or 'none'})")
        shape = tuple(prod(headers[k].shape) for k in inputs)
        for out in outputs:
            if headers[out].shape != shape:
                raise NpzRefused(f"'{out}' has shape {headers[out].shape}, expected {shape} "
                                 f"(one axis per input: {', '.join(inputs)})")
        load_npz(path, names, MAX_REFERENCE_BYTES)
    except NpzRefused as err:
        raise at.error(("reference", "file"), f"{path.name}: {err}") from None


def _check_zero_mean(at: LocatedData, spec: Spec, constants: dict[str, float]) -> None:
    """Cole-Hopf extends u0 periodically; the solver's own check, run before any process starts."""
    from pinnrun.problem.reference import centred_initial

    ref = spec.reference.cole_hopf
    here = ("reference", "cole_hopf", "initial")
    if "initial" in ref:
        source = ref["initial"]
    else:
        name, cond = next((n, c) for n, c in spec.conditions.items() if c.kind == "initial")
        source, here = cond.value, ("conditions", name, "value")
    x, t = spec.variables.space[0], spec.variables.time
    lo, hi = spec.geometry.interval
    expr = parse(source, variables=[x, t], constants=list(constants))
    try:
        check_zero_mean(centred_initial(expr, x, t, spec.time_domain[0], constants, (lo + hi) / 2), hi - lo)
    except ValueError as err:
        raise at.error(here, f"Cole-Hopf needs u(x, 0) with zero mean over the interval: {err}") from None
