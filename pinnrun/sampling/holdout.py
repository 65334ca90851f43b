"""Held-out test points: the train-test gap of a run is its loss on these minus
its loss on the points it trained on.

One fixed pseudo-random set per problem (not per training seed or point
count), so the test losses of an h-analysis are comparable across runs.
Split across ranks like strong scaling: the set never grows with ranks.
Observation data has no held-out part: a data term's test loss is its loss
on the observations themselves.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from pinnrun.problem.problem import Problem
from pinnrun.problem.terms.base import Batch
from pinnrun.sampling.collocation import sample_problem

HOLDOUT_SEED = 20_240_601
HOLDOUT_METHOD = "pseudo-random"
MIN_HOLDOUT_POINTS = 4096


def holdout_count(term_points: int, size: int, scaling: str) -> int:
    """At least MIN_HOLDOUT_POINTS, and never fewer than the run trained on."""
    trained = term_points * size if scaling == "weak" else term_points
    return max(trained, MIN_HOLDOUT_POINTS)


def sample_holdout(problem: Problem, rank: int, size: int, scaling: str) -> dict[str, Batch]:
    terms = []
    for term in problem.terms:
        if term.kind != "data":
            term = copy.copy(term)
            term.points = holdout_count(term.points, size, scaling)
        terms.append(term)
    return sample_problem(replace(problem, terms=tuple(terms)), HOLDOUT_METHOD, HOLDOUT_SEED, rank, size, "strong")
