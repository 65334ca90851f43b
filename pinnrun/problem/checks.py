"""The checks that need the built problem: every expression evaluated on points of its
own part of the domain, and the reference. Run once before any rank starts."""

from __future__ import annotations

from pinnrun.problem.probe import Probes
from pinnrun.problem.problem import Problem
from pinnrun.problem.regions.csg import accepted_fraction
from pinnrun.spec.loader import LoadedSpec
from pinnrun.spec.schema import MAX_PERIODIC_CYCLES

# Regions sampled by rejection (CSG) draw candidates until enough are kept: the cost is the
# point count over this share, so a sliver (say 1e-6 of its bounding shape) would take
# unbounded time. Estimated from 65,536 candidates (about 66 kept at the floor, so the
# estimate is within ~25% there; a CSG containment test of that many takes milliseconds).
MIN_ACCEPTANCE = 1e-3
ACCEPTANCE_CANDIDATES = 1 << 16


def check_problem(loaded: LoadedSpec, problem: Problem) -> None:
    from pinnrun.problem.reference_check import check_reference

    _check_acceptance(loaded, problem)
    _check_periodic_inputs(loaded, problem)
    probes = Probes(loaded, problem)
    probes.check_terms()
    probes.check_output_transforms()
    probes.check_derived()
    if problem.reference is not None:
        check_reference(problem, problem.reference, loaded, loaded.path.parent, probes)


def _check_periodic_inputs(loaded: LoadedSpec, problem: Problem) -> None:
    """A periodic input's period against the domain's width along it: a tiny period makes the
    embedding's phases float noise (or overflow), whatever its absolute size."""
    for name, p in loaded.spec.network.periodic.items():
        lo, hi = problem.input_box[problem.inputs.index(name)]
        if p.period is not None and p.harmonics * (hi - lo) / p.period > MAX_PERIODIC_CYCLES:
            raise loaded.error(
                ("network", "periodic", name, "period"),
                f"{p.harmonics} harmonic(s) of period {p.period:g} make "
                f"{p.harmonics * (hi - lo) / p.period:.3g} cycles over the domain's width "
                f"{hi - lo:g} along {name}; at most {MAX_PERIODIC_CYCLES:g}",
            )


def _check_acceptance(loaded: LoadedSpec, problem: Problem) -> None:
    for term in problem.terms:
        if term.kind == "data":
            continue
        sampler = problem.domain.interior() if term.part is None else problem.domain.part(term.part)
        if sampler.accept is None:
            continue
        share = accepted_fraction(sampler, ACCEPTANCE_CANDIDATES)
        if share < MIN_ACCEPTANCE:
            where = ("geometry",) if term.part is None else ("conditions", term.name, "on")
            what = "the region" if term.part is None else f"part '{term.part}'"
            raise loaded.error(
                where,
                f"{what} keeps {share * 100:.3g}% of its candidate points (at least "
                f"{MIN_ACCEPTANCE * 100:.3g}% needed): it is a sliver of its bounding shape",
            )
