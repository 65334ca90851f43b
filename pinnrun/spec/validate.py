"""Cross-field checks of a schema-valid spec: names, expressions, terms, counts.

Every expression is parsed here, once; the problem, model and reference use
these parsed forms. What needs the domain (boundary parts, regions, data
files, evaluating expressions on points) is checked when the problem is built
(pinnrun/problem/build.py): the spec layer knows nothing of geometry.
"""

from __future__ import annotations

import keyword

from pinnrun.numbers import byte_size
from pinnrun.spec.expressions import RESERVED_NAMES, Expression, ExpressionError, evaluate_constants, parse
from pinnrun.spec.memory import MAX_RANK_BYTES, BudgetError, estimate_rank_memory
from pinnrun.spec.adapt import adapt_rounds, adapted_terms, candidate_count
from pinnrun.spec.schema import MAX_POINTS, Spec
from pinnrun.spec.yaml_lines import LocatedData

Expressions = dict[tuple, Expression]


def check_semantics(spec: Spec, at: LocatedData) -> tuple[dict[str, float], Expressions]:
    """Raise a located SpecError for the first problem; return the constants' values and
    every expression of the spec, parsed, by its path in the spec."""
    space, time = spec.variables.space, spec.variables.time
    inputs = space + ([time] if time else [])
    _check_names(spec, at, inputs)
    try:
        constants = evaluate_constants(dict(spec.constants))
    except ExpressionError as err:
        name = str(err).split(":", 1)[0]
        raise at.error(("constants", name) if name in spec.constants else ("constants",), str(err)) from None

    if (time is None) != (spec.time_domain is None):
        raise at.error(
            ("time_domain",) if time is None else ("variables", "time"),
            "variables.time and time_domain go together: give both or neither",
        )
    if spec.time_domain and not spec.time_domain[0] < spec.time_domain[1]:
        raise at.error(("time_domain",), "time_domain must be increasing")

    # Parameters are named like constants in expressions, but trainable: their value is a tensor.
    known = [*constants, *spec.parameters]
    every = dict(variables=inputs, outputs=spec.outputs, constants=known)
    given = dict(variables=inputs, constants=known)  # prescribed values: no outputs
    parsed: Expressions = {}

    def parse_at(path: tuple, source, **names) -> Expression:
        try:
            parsed[path] = parse(source, **names)
        except ExpressionError as err:
            raise at.error(path, str(err)) from None
        return parsed[path]

    _parse_derived(spec, at, parse_at, every)

    for term, source in spec.pde.items():
        expr = parse_at(("pde", term), source, **every)
        if not (expr.outputs or expr.derivatives):
            raise at.error(("pde", term), "a residual must involve an output or its derivatives")

    for out, source in spec.network.output_transform.items():
        here = ("network", "output_transform", out)
        if out not in spec.outputs:
            raise at.error(here, f"unknown output (outputs: {', '.join(spec.outputs)})")
        expr = parse_at(here, source, **every)
        if expr.derivatives:
            raise at.error(here, "an output transform cannot use derivatives")
        if out not in expr.outputs:
            raise at.error(here, f"the transform must use the network's raw output '{out}' (else nothing is trained)")
    _check_embedding(spec, at, inputs)

    for term, cond in spec.conditions.items():
        _check_condition(spec, at, term, cond, inputs, every, parsed)
        for field, with_outputs in cond.EXPRESSIONS.items():
            expr = parse_at(("conditions", term, field), getattr(cond, field), **(every if with_outputs else given))
            if with_outputs and not (expr.outputs or expr.derivatives):
                raise at.error(("conditions", term, field), "a residual must involve an output or its derivatives")

    if spec.reference is not None:
        _parse_reference(spec, at, parse_at, given)
    _check_terms(spec, at)
    _check_parameters_used(spec, at, parsed)
    _check_memory(spec, at, parsed)
    return constants, parsed


def _parse_derived(spec: Spec, at: LocatedData, parse_at, every: dict) -> None:
    """Each derived quantity: an expression of the outputs and their derivatives (like a residual),
    never of another derived quantity (one level: no order of evaluation, no cycles)."""
    for name, source in spec.derived.items():
        here = ("derived", name)
        # derived names parse as constants here, so using one is named as such, not as an unknown name
        expr = parse_at(here, source, **(every | {"constants": [*every["constants"], *spec.derived]}))
        used = sorted(expr.constants & set(spec.derived))
        if used:
            raise at.error(
                here,
                f"a derived quantity cannot use another one ('{used[0]}'): write it in outputs and their derivatives",
            )
        if not (expr.outputs or expr.derivatives):
            raise at.error(here, "a derived quantity must involve an output or its derivatives")


def _check_embedding(spec: Spec, at: LocatedData, inputs: list[str]) -> None:
    """Periodic inputs are space variables (a time-periodic solution is a different problem: it
    has no initial condition); Fourier features need a non-periodic input to embed."""
    space, time = spec.variables.space, spec.variables.time
    for name in spec.network.periodic:
        here = ("network", "periodic", name)
        if name == time:
            raise at.error(
                here, f"'{name}' is the time variable; only space variables can be periodic ({', '.join(space)})"
            )
        if name not in space:
            raise at.error(here, f"not a space variable ({', '.join(space)})")
    if spec.network.fourier_features is not None and set(inputs) <= set(spec.network.periodic):
        raise at.error(
            ("network", "fourier_features"),
            "every input is periodic, so Fourier features would embed nothing: drop them or make an input non-periodic",
        )


def _fields(spec: Spec, inputs: list[str] = ()) -> tuple[str, str]:
    """What names may be observed or compared, in words, and the names themselves."""
    names = ", ".join([*inputs, *spec.outputs, *spec.derived])
    what = (
        ("an input, output or derived quantity" if inputs else "output or derived quantity")
        if spec.derived
        else ("an input or output" if inputs else "output")
    )
    return what, names


def _check_condition(
    spec: Spec, at: LocatedData, term: str, cond, inputs: list[str], names: dict, parsed: Expressions
) -> None:
    here = ("conditions", term)
    outputs = spec.outputs
    output = getattr(cond, "output", None)
    if "output" in type(cond).model_fields:
        if output is None and len(outputs) > 1:
            raise at.error(here, f"several outputs: say which with output: ({', '.join(outputs)})")
        if output is not None and output not in outputs:
            raise at.error(here + ("output",), f"unknown output '{output}' (outputs: {', '.join(outputs)})")
    if cond.kind == "initial":
        if spec.variables.time is None:
            raise at.error(here + ("kind",), "an initial condition needs variables.time")
        if cond.derivative is not None:
            d = _derivative(at, here + ("derivative",), cond.derivative, names, parsed)
            if set(d.wrt) != {spec.variables.time}:
                raise at.error(
                    here + ("derivative",),
                    f"'{cond.derivative}' is not a time derivative (e.g. {outputs[0]}_{spec.variables.time})",
                )
            if output is not None and d.output != output:
                raise at.error(here + ("derivative",), f"'{cond.derivative}' is not a derivative of '{output}'")
    if cond.kind == "periodic":
        if cond.on[0] == cond.on[1]:
            raise at.error(here + ("on",), "a periodic condition pairs two different parts")
        for i, out in enumerate(cond.outputs):
            if out not in outputs:
                raise at.error(here + ("outputs", i), f"unknown output '{out}' (outputs: {', '.join(outputs)})")
        for i, name in enumerate(cond.derivatives):
            _derivative(at, here + ("derivatives", i), name, names, parsed)
    if cond.kind == "data":
        observable = [*outputs, *spec.derived]
        for name in cond.columns:
            if name not in inputs and name not in observable:
                what, known = _fields(spec, inputs)
                raise at.error(here + ("columns", name), f"not {what} ({known})")
        missing = [v for v in inputs if v not in cond.columns]
        if missing:
            raise at.error(here + ("columns",), f"give the column of every input; missing: {', '.join(missing)}")
        if not any(name in observable for name in cond.columns):
            what, known = _fields(spec)
            raise at.error(here + ("columns",), f"give the column of at least one observed {what} ({known})")


def _derivative(at: LocatedData, here: tuple, name: str, names: dict, parsed: Expressions):
    """A derivative named in a condition (u_t, u_x), parsed into `parsed` at `here`."""
    try:
        expr = parse(name, **names)
    except ExpressionError as err:
        raise at.error(here, str(err)) from None
    if len(expr.derivatives) != 1 or expr.outputs or expr.variables or str(expr).strip() != name:
        raise at.error(here, f"'{name}' is not a derivative of an output (e.g. u_x)")
    parsed[here] = expr
    return next(iter(expr.derivatives))


def _parse_reference(spec: Spec, at: LocatedData, parse_at, given: dict) -> None:
    ref = spec.reference
    if ref.exact is not None:
        if not isinstance(ref.exact, dict) and len(spec.outputs) > 1:
            raise at.error(("reference", "exact"), "several outputs: give a mapping output: expression")
        exprs = ref.exact if isinstance(ref.exact, dict) else {spec.outputs[0]: ref.exact}
        for out, source in exprs.items():
            if out not in spec.outputs and out not in spec.derived:
                known = f"outputs: {', '.join(spec.outputs)}" + (
                    f"; derived: {', '.join(spec.derived)}" if spec.derived else ""
                )
                raise at.error(("reference", "exact", out), f"unknown {_fields(spec)[0]} ({known})")
            here = ("reference", "exact", out) if isinstance(ref.exact, dict) else ("reference", "exact")
            parse_at(here, source, **given)
    if ref.cole_hopf is not None:
        if "initial" in ref.cole_hopf:
            parse_at(("reference", "cole_hopf", "initial"), ref.cole_hopf["initial"], **given)
        if "viscosity" in ref.cole_hopf:
            parse_at(("reference", "cole_hopf", "viscosity"), ref.cole_hopf["viscosity"], constants=given["constants"])


def _check_terms(spec: Spec, at: LocatedData) -> None:
    terms = list(spec.pde) + list(spec.conditions)
    dupes = set(spec.pde) & set(spec.conditions)
    if dupes:
        raise at.error(("conditions", sorted(dupes)[0]), "a condition cannot share its name with a pde term")
    sampled = [t for t in terms if t not in spec.conditions or spec.conditions[t].kind != "data"]
    missing = [t for t in sampled if t not in spec.sampling.points]
    if missing:
        raise at.error(("sampling", "points"), f"no point count for term(s): {', '.join(missing)}")
    for term in spec.sampling.points:
        if term not in terms:
            raise at.error(("sampling", "points", term), f"unknown term (terms: {', '.join(terms)})")
        if term not in sampled:
            raise at.error(("sampling", "points", term), "a data term uses the points of its file; drop this count")
    for term, weight in spec.training.loss_weights.items():
        if term not in terms:
            raise at.error(("training", "loss_weights", term), f"unknown term (terms: {', '.join(terms)})")
        if weight < 0:
            raise at.error(("training", "loss_weights", term), "a loss weight must be >= 0")
    if spec.sampling.adapt is not None:
        _check_adapt(spec, at, sampled)
    if spec.training.causal is not None:
        _check_causal(spec, at)


def _check_causal(spec: Spec, at: LocatedData) -> None:
    causal = spec.training.causal
    if spec.variables.time is None:
        raise at.error(("training", "causal"), "causal weights need variables.time")
    if causal.term is None and len(spec.pde) > 1:
        raise at.error(("training", "causal"), f"several pde terms: say which with term: ({', '.join(spec.pde)})")
    if causal.term is not None and causal.term not in spec.pde:
        raise at.error(("training", "causal", "term"), f"not a pde term (pde terms: {', '.join(spec.pde)})")


def _check_adapt(spec: Spec, at: LocatedData, sampled: list[str]) -> None:
    adapt = spec.sampling.adapt
    for i, term in enumerate(adapt.terms):
        here = ("sampling", "adapt", "terms", i)
        if term not in sampled:
            known = [t for t in sampled if t in spec.pde or spec.conditions[t].kind != "periodic"]
            raise at.error(here, f"not a term with sampled points (terms: {', '.join(known)})")
        if term in spec.conditions and spec.conditions[term].kind == "periodic":
            raise at.error(here, "a periodic condition's points come in pairs: adapt the pde terms instead")
    if len(set(adapt.terms)) != len(adapt.terms):
        raise at.error(("sampling", "adapt", "terms"), "a term is listed twice")
    for term in adapted_terms(spec):
        points = spec.sampling.points[term]
        if adapt.method != "resample" and candidate_count(spec, term) > MAX_POINTS:
            raise at.error(
                ("sampling", "adapt", "candidates"),
                f"{candidate_count(spec, term):,} candidates for '{term}'; at most {MAX_POINTS:,}",
            )
        if adapt.method == "rad" and candidate_count(spec, term) < points:
            raise at.error(
                ("sampling", "adapt", "candidates"),
                f"fewer than the {points:,} points of '{term}' it must choose from them",
            )
        if adapt.method == "rar" and candidate_count(spec, term) < adapt.add:
            raise at.error(
                ("sampling", "adapt", "candidates"), f"fewer than the {adapt.add:,} points a round adds from them"
            )
        if adapt.method == "rar" and points + adapt_rounds(spec) * adapt.add > MAX_POINTS:
            raise at.error(
                ("sampling", "adapt", "add"),
                f"'{term}' would grow to "
                f"{points + adapt_rounds(spec) * adapt.add:,} points over {adapt_rounds(spec):,} "
                f"rounds; at most {MAX_POINTS:,}",
            )


def _check_parameters_used(spec: Spec, at: LocatedData, parsed: Expressions) -> None:
    # a derived quantity that no data observes is only reported: its parameters identify nothing
    observed = {name for c in spec.conditions.values() if c.kind == "data" for name in c.columns}
    counted = [e for path, e in parsed.items() if path[0] != "derived" or path[1] in observed]
    used = set().union(*(e.constants for e in counted))
    in_derived = set().union(*(e.constants for path, e in parsed.items() if path[0] == "derived"))
    for name in spec.parameters:
        if name in in_derived - used:
            raise at.error(
                ("parameters", name),
                "used only in derived quantities that no data condition observes: nothing could identify it",
            )
        if name not in used:
            raise at.error(("parameters", name), "used in no expression: nothing could identify it")
        if spec.reference is not None and any(
            name in e.constants for path, e in parsed.items() if path[0] == "reference"
        ):
            raise at.error(("parameters", name), "a reference cannot depend on a trained parameter")


def _check_memory(spec: Spec, at: LocatedData, parsed: Expressions) -> None:
    """One rank below a fixed ceiling, wherever it will run, and within its memory budget; the
    ranks a launch places on this host are checked against its memory at launch, once their
    number is known (strong-scaling points are shared between them)."""
    try:
        estimate = estimate_rank_memory(spec, 1 if spec.scaling == "weak" else None, parsed)
    except BudgetError as e:
        raise at.error(("training", "memory_budget"), str(e)) from None
    if estimate.total > MAX_RANK_BYTES:
        raise at.error(
            estimate.blame,
            f"one rank needs about {byte_size(estimate.total)} ({estimate.detail}); at most {byte_size(MAX_RANK_BYTES)} a rank",
        )


def _check_names(spec: Spec, at: LocatedData, inputs: list[str]) -> None:
    seen: dict[str, tuple] = {}
    groups = [
        (("variables",), inputs),
        (("outputs",), spec.outputs),
        (("constants",), list(spec.constants)),
        (("parameters",), list(spec.parameters)),
        (("derived",), list(spec.derived)),
    ]
    for where, names in groups:
        for name in names:
            if name in RESERVED_NAMES:
                raise at.error(where, f"'{name}' is reserved (a constant or function of the expression language)")
            if keyword.iskeyword(name):
                raise at.error(
                    where,
                    f"'{name}' is a reserved word; use another name (e.g. '{name}_')"
                    if "_" not in name
                    else f"'{name}' is a reserved word",
                )
            if name in seen:
                raise at.error(where, f"name '{name}' is used twice (also in {'.'.join(seen[name])})")
            seen[name] = where
