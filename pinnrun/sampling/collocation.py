"""One rank's collocation points for every term: a pure function of
(problem, method, seed, rank, size, scaling)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pinnrun.problem.geometry import boundary_param_dim, interior_dim, map_boundary, map_interior
from pinnrun.problem.problem import Problem, Term
from pinnrun.sampling.sequences import unit_block
from pinnrun.sampling.shards import Shard, shard


@dataclass(frozen=True)
class TermPoints:
    x: np.ndarray               # (n, len(problem.inputs)), float64
    normals: np.ndarray | None  # (n, len(problem.space)) outward normals (neumann)
    target: np.ndarray | None   # (n, 1) prescribed values (conditions)
    shard: Shard


def sample_problem(problem: Problem, method: str, seed: int, rank: int, size: int,
                   scaling: str) -> dict[str, TermPoints]:
    return {term.name: sample_term(problem, term, index, method, seed, rank, size, scaling)
            for index, term in enumerate(problem.terms)}


def term_seed(seed: int, index: int) -> int:
    """Independent, reproducible stream per term (identical on every rank)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def sample_term(problem: Problem, term: Term, index: int, method: str, seed: int,
                rank: int, size: int, scaling: str) -> TermPoints:
    part = shard(term.points, rank, size, scaling)
    has_time = problem.time is not None
    if term.kind in ("pde", "initial"):
        space_dim = interior_dim(list(problem.box))
    else:
        space_dim = boundary_param_dim(problem.geometry, term.on)
    dim = space_dim + (has_time and term.kind != "initial")
    u = unit_block(method, dim, term_seed(seed, index), part.start, part.count, part.total)

    normals = None
    if term.kind in ("pde", "initial"):
        xs = map_interior(u[:, :space_dim], list(problem.box))
    else:
        xs, normals = map_boundary(u[:, :space_dim], problem.geometry, term.on, list(problem.box))
    if has_time:
        t0, t1 = problem.time_domain
        t = np.full((len(u), 1), t0) if term.kind == "initial" else t0 + u[:, space_dim:] * (t1 - t0)
        xs = np.concatenate([xs, t], axis=1)

    target = None
    if term.kind != "pde":
        env = {name: xs[:, i] for i, name in enumerate(problem.inputs)} | problem.constants
        value = term.expression.evaluate(env, backend="numpy")
        target = np.broadcast_to(np.asarray(value, dtype=np.float64), (len(xs),)).reshape(-1, 1).copy()
    return TermPoints(xs, normals if term.kind == "neumann" else None, target, part)
