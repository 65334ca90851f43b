"""One rank's points for every term: a pure function of
(problem, method, seed, rank, size, scaling). Each term draws its own."""

from __future__ import annotations

import numpy as np

from pinnrun.problem.problem import Problem
from pinnrun.problem.terms.base import Batch, Draw


def sample_problem(problem: Problem, method: str, seed: int, rank: int, size: int, scaling: str) -> dict[str, Batch]:
    return {
        term.name: term.sample(Draw(problem, method, term_seed(seed, index), rank, size, scaling))
        for index, term in enumerate(problem.terms)
    }


def term_seed(seed: int, index: int) -> int:
    """Independent, reproducible stream per term (identical on every rank)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
