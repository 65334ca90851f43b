"""What a spec's adaptive sampling amounts to: which terms, how many rounds, how many
candidates. Shared by validation, the memory estimate and training/adapt.py."""

from __future__ import annotations

from pinnrun.spec.schema import Spec

CANDIDATES_PER_POINT = 8  # default candidates: Wu et al. 2023 draw 10-100x as many as they keep


def adapted_terms(spec: Spec) -> list[str]:
    """The terms whose points change: those listed, else every pde term (resample: every term
    with sampled points but a periodic condition's pairs)."""
    adapt = spec.sampling.adapt
    if adapt is None:
        return []
    if adapt.terms:
        return list(adapt.terms)
    if adapt.method != "resample":
        return list(spec.pde)
    return [*spec.pde, *(name for name, cond in spec.conditions.items() if cond.kind not in ("data", "periodic"))]


def adapt_rounds(spec: Spec) -> int:
    """Rounds at steps every, 2 every, ... before the last step of Adam, or with `lbfgs` of
    L-BFGS (a round at the last step would change points nothing trains on; without `lbfgs`,
    L-BFGS keeps the points Adam ended with)."""
    adapt = spec.sampling.adapt
    if adapt is None:
        return 0
    lbfgs = spec.training.lbfgs.steps if adapt.lbfgs and spec.training.lbfgs is not None else 0
    return max(spec.training.adam.steps + lbfgs - 1, 0) // adapt.every


def candidate_count(spec: Spec, term: str) -> int:
    """Candidates of one round, counted like the term's points (per rank when weak)."""
    adapt = spec.sampling.adapt
    return adapt.candidates or CANDIDATES_PER_POINT * spec.sampling.points[term]
