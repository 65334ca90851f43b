"""Cross-field checks of a schema-valid spec: names, expressions, terms, geometry."""
from __future__ import annotations

from pathlib import Path

from pinnrun.problem.geometry import boundary_parts
from pinnrun.spec.expressions import ExpressionError, evaluate_constants, parse
from pinnrun.spec.schema import Spec
from pinnrun.spec.yaml_lines import LocatedData

RESERVED = {"pi", "e"}


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

    if spec.reference is not None:
        _check_reference(spec, at, spec_path, inputs, constants)
    return constants


def _check_names(spec: Spec, at: LocatedData, inputs: list[str]) -> None:
    seen: dict[str, tuple] = {}
    groups = [(("variables",), inputs), (("outputs",), spec.outputs), (("constants",), list(spec.constants))]
    for where, names in groups:
        for name in names:
            if name in RESERVED:
                raise at.error(where, f"'{name}' is reserved (the constant {name})")
            if name in seen:
                raise at.error(where, f"name '{name}' is used twice (also in {'.'.join(seen[name])})")
            seen[name] = where


def _parse(at: LocatedData, path: tuple, source, variables=(), outputs=(), constants=()):
    try:
        return parse(source, variables=variables, outputs=outputs, constants=constants)
    except ExpressionError as err:
        raise at.error(path, str(err)) from None


def _check_reference(spec: Spec, at: LocatedData, spec_path: Path, inputs, constants) -> None:
    ref = spec.reference
    if ref.exact is not None:
        exprs = ref.exact if isinstance(ref.exact, dict) else {spec.outputs[0]: ref.exact}
        if not isinstance(ref.exact, dict) and len(spec.outputs) > 1:
            raise at.error(("reference", "exact"), "several outputs: give a mapping output: expression")
        for out, source in exprs.items():
            if out not in spec.outputs:
                raise at.error(("reference", "exact", out), f"unknown output (outputs: {', '.join(spec.outputs)})")
            _parse(at, ("reference", "exact", out) if isinstance(ref.exact, dict) else ("reference", "exact"),
                   source, variables=inputs, constants=list(constants))
    if ref.file is not None:
        path = (spec_path.parent / ref.file)
        if not path.is_file():
            raise at.error(("reference", "file"), f"file not found: {path}")
        if path.suffix != ".npz":
            raise at.error(("reference", "file"), "reference data must be a .npz file")
    if ref.cole_hopf is not None:
        if len(spec.variables.space) != 1 or spec.variables.time is None or len(spec.outputs) != 1:
            raise at.error(("reference", "cole_hopf"), "Cole-Hopf needs one space variable, time and one output")
        if not any(c.kind == "initial" for c in spec.conditions.values()):
            raise at.error(("reference", "cole_hopf"), "Cole-Hopf needs an initial condition")
        if "viscosity" not in ref.cole_hopf:
            raise at.error(("reference", "cole_hopf"), "give viscosity: <constant expression>")
        viscosity = _parse(at, ("reference", "cole_hopf", "viscosity"), ref.cole_hopf["viscosity"],
                           constants=list(constants))
        if viscosity.evaluate(constants) <= 0:
            raise at.error(("reference", "cole_hopf", "viscosity"), "viscosity must be > 0")
    for name in ref.grid:
        if name not in inputs:
            raise at.error(("reference", "grid", name), f"not an input variable ({', '.join(inputs)})")
