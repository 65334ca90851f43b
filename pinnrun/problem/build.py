"""From a loaded spec to a Problem: the domain, the terms, every check that needs them.

Failures are located errors (`file:line: field: message`), raised before any
rank starts: the launcher builds the problem once to validate it, and every
rank builds the same problem again from the run folder's spec.
"""

from __future__ import annotations

from pathlib import Path

from pinnrun.problem.problem import Problem
from pinnrun.problem.regions.base import Region, RegionError
from pinnrun.problem.regions.build import build_region
from pinnrun.problem.regions.spacetime import SpaceTime
from pinnrun.problem.terms import CONDITIONS
from pinnrun.problem.terms.base import Setting, TermError
from pinnrun.problem.terms.pde import Residual
from pinnrun.spec.loader import LoadedSpec, load_spec


def load_problem(path: str | Path, overrides: list[str] = ()) -> tuple[LoadedSpec, Problem]:
    """Load, validate and build: what `validate`, `train` and `scale` do before anything runs."""
    from pinnrun.problem.checks import check_problem

    loaded = load_spec(path, list(overrides))
    problem = build_problem(loaded)
    check_problem(loaded, problem)
    return loaded, problem


def build_domain(loaded: LoadedSpec) -> Region:
    """The spec's region, times its time interval when there is time (time last)."""
    spec = loaded.spec
    try:
        region = build_region(spec.geometry)
    except RegionError as err:
        raise loaded.error(("geometry", *err.path), str(err)) from None
    if region.dim != len(spec.variables.space):
        raise loaded.error(
            ("geometry", spec.geometry.kind),
            f"a {spec.geometry.kind} has {region.dim} dimension(s) but variables.space has {len(spec.variables.space)}",
        )
    return SpaceTime(region, *spec.time_domain) if spec.variables.time else region


def build_problem(loaded: LoadedSpec) -> Problem:
    spec = loaded.spec
    space, time = tuple(spec.variables.space), spec.variables.time
    domain = build_domain(loaded)
    derived = {name: loaded.expressions[("derived", name)] for name in spec.derived}
    setting = Setting(
        domain=domain,
        space=space,
        time=time,
        outputs=tuple(spec.outputs),
        parameters=tuple(spec.parameters),
        expressions=loaded.expressions,
        points=dict(spec.sampling.points),
        weights=dict(spec.training.loss_weights),
        spec_dir=loaded.path.parent,
        derived=derived,
    )
    terms = [Residual(name, setting) for name in spec.pde]
    for name, cond in spec.conditions.items():
        try:
            terms.append(CONDITIONS[cond.kind](name, cond, setting))
        except TermError as err:
            raise loaded.error(err.path, str(err)) from None
    transforms = {
        out: loaded.expressions[("network", "output_transform", out)] for out in spec.network.output_transform
    }
    return Problem(
        name=spec.name,
        space=space,
        time=time,
        outputs=tuple(spec.outputs),
        constants=dict(loaded.constants),
        parameters=dict(spec.parameters),
        domain=domain,
        terms=tuple(terms),
        output_transform=transforms,
        derived=derived,
        reference=spec.reference,
        expressions=dict(loaded.expressions),
    )
