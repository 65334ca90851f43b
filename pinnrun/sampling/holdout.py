"""Held-out test points: the train-test gap of a run is its loss on these minus
its loss on the points it trained on.

One fixed pseudo-random set per problem (not per training seed or point
count), so the test losses of an h-analysis are comparable across runs.
Split across ranks like strong scaling: the set never grows with ranks.
"""
from __future__ import annotations

from dataclasses import replace

from pinnrun.problem.problem import Problem
from pinnrun.sampling.collocation import TermPoints, sample_problem

HOLDOUT_SEED = 20_240_601
MIN_HOLDOUT_POINTS = 4096


def holdout_count(term_points: int, size: int, scaling: str) -> int:
    """At least MIN_HOLDOUT_POINTS, and never fewer than the run trained on."""
    trained = term_points * size if scaling == "weak" else term_points
    return max(trained, MIN_HOLDOUT_POINTS)


def sample_holdout(problem: Problem, rank: int, size: int, scaling: str) -> dict[str, TermPoints]:
    terms = tuple(replace(t, points=holdout_count(t.points, size, scaling)) for t in problem.terms)
    return sample_problem(replace(problem, terms=terms), "uniform", HOLDOUT_SEED, rank, size, "strong")
