"""The interface every loss term implements, and what terms share.

A term owns how its points are drawn (on which part of the domain, how many,
what is precomputed beside them) and how its residual is computed from the
network's fields there. The loss is the mean of the squared residual over
every rank's points: each rank adds sum(r^2) / (global points x components),
and the all-reduce sums the ranks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pinnrun.sampling.draw import draw
from pinnrun.sampling.shards import Shard, shard
from pinnrun.spec.expressions import Derivative, Expression

if TYPE_CHECKING:
    from pinnrun.problem.problem import Problem


class TermError(ValueError):
    """A term that cannot be built as written: `path` is the field in the spec to blame."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Batch:
    """One rank's share of a term: its points and what the residual needs beside them."""

    x: np.ndarray  # (n, inputs) float64
    shard: Shard
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # (n, k) normals, targets, observations
    components: int = 1  # residual columns per point
    blocks: int = 1  # x stacks this many row blocks of n (periodic: a point, then its partner)

    def head(self, k: int) -> Batch:
        """The first k points (with their partners), as a smaller batch of the same term."""
        n = len(self.x) // self.blocks
        rows = np.concatenate([np.arange(b * n, b * n + min(k, n)) for b in range(self.blocks)])
        return Batch(
            self.x[rows],
            Shard(self.shard.start, min(k, n), self.shard.total),
            {key: v[:k] for key, v in self.arrays.items()},
            self.components,
            self.blocks,
        )


@dataclass(frozen=True)
class Draw:
    """Where and how a term's points come from (one rank's view)."""

    problem: Problem
    method: str
    seed: int  # this term's own stream, identical on every rank
    rank: int
    size: int
    scaling: str


class Term(ABC):
    kind: str
    part: str | None = None  # where its points lie: a boundary part, "initial", or None (the interior)

    def __init__(self, name: str, weight: float, points: int | None):
        self.name, self.weight, self.points = name, weight, points

    @property
    def expressions(self) -> dict[tuple, Expression]:
        """Spec path -> parsed expression this term evaluates (validation probes each)."""
        return {}

    @property
    def derivatives(self) -> frozenset[Derivative]:
        """Only the derivatives a term uses are ever computed."""
        return frozenset()

    @abstractmethod
    def sample(self, where: Draw) -> Batch:
        """This rank's points (and precomputed arrays)."""

    @abstractmethod
    def residual(self, env: dict, arrays: dict):
        """(n, components) tensor from `env` (inputs, outputs, derivatives, constants, parameters by
        name) and this batch's `arrays` as tensors."""

    def counted(self, where: Draw) -> Shard:
        """This rank's block of the term's points, as the scaling mode splits them."""
        return shard(self.points, where.rank, where.size, where.scaling)


def draw_on(where: Draw, part: str | None, part_shard: Shard) -> tuple[np.ndarray, np.ndarray | None]:
    """This rank's block of points of `part` (None: the interior) and their outward normals."""
    domain = where.problem.domain
    sampler = domain.interior() if part is None else domain.part(part)
    return draw(sampler, where.method, where.seed, part_shard.start, part_shard.count, part_shard.total)


def inputs_env(problem: Problem, x: np.ndarray) -> dict:
    return {name: x[:, i] for i, name in enumerate(problem.inputs)} | problem.constants


def precomputed(expr: Expression, problem: Problem, x: np.ndarray) -> np.ndarray | None:
    """A prescribed value that depends only on the inputs and constants, computed once at
    sampling (float64) instead of every step; None when it uses a trained parameter or the
    network's outputs."""
    if expr.constants & set(problem.parameters) or expr.outputs or expr.derivatives:
        return None
    value = expr.evaluate(inputs_env(problem, x), backend="numpy")
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (len(x),)).reshape(-1, 1).copy()


class PartTerm(Term):
    """A condition on one part of the domain, with expression fields (`value`, Robin's `a` and
    `b`, an operator's `residual`) evaluated once at sampling where they allow it."""

    fields: tuple[str, ...] = ("value",)
    normals = False  # whether the residual needs the outward normals (spatial ones)

    def __init__(self, name: str, cond, setting: Setting, part: str):
        super().__init__(name, setting.weights.get(name, 1.0), setting.points[name])
        self.part, self.space = part, setting.space
        self.output = getattr(cond, "output", None) or setting.outputs[0]
        self.paths = {f: ("conditions", name, f) for f in self.fields}
        self.exprs = {f: setting.expressions[path] for f, path in self.paths.items()}

    @property
    def expressions(self):
        return {self.paths[f]: e for f, e in self.exprs.items()}

    def sample(self, where: Draw) -> Batch:
        block = self.counted(where)
        x, normals = draw_on(where, self.part, block)
        arrays = {"normals": normals[:, : len(self.space)]} if self.normals else {}
        for f, expr in self.exprs.items():
            value = precomputed(expr, where.problem, x)
            if value is not None:
                arrays[f] = value
        return Batch(x, block, arrays)

    def value(self, field: str, env: dict, arrays: dict):
        """The field's precomputed values, else the expression evaluated now (it uses parameters
        or outputs); a constant broadcasts against the (n, 1) field it is compared with."""
        return arrays[field] if field in arrays else self.exprs[field].evaluate(env, backend="tf")


@dataclass(frozen=True)
class Setting:
    """What building a term may look at: the domain, the names, the parsed expressions."""

    domain: object  # Region
    space: tuple[str, ...]
    time: str | None
    outputs: tuple[str, ...]
    parameters: tuple[str, ...]
    expressions: dict[tuple, Expression]
    points: dict[str, int]
    weights: dict[str, float]
    spec_dir: Path
    derived: dict[str, Expression] = field(default_factory=dict)  # name -> expression of outputs, derivatives

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.space + ((self.time,) if self.time else ())

    def part(self, path: tuple, name: str) -> str:
        """`name` if the domain has that boundary part, else a TermError listing those it has."""
        names = self.domain.part_names()
        if name not in names:
            raise TermError(path, f"no boundary part '{name}' (parts: {', '.join(names)})")
        return name

    def derivative(self, path: tuple) -> Derivative:
        """The derivative a condition names at `path` (u_t), as validation parsed it."""
        return next(iter(self.expressions[path].derivatives))


def normal_derivative(space: tuple[str, ...], output: str) -> frozenset[Derivative]:
    return frozenset(Derivative(output, (x,)) for x in space)


def du_dn(space: tuple[str, ...], output: str, env: dict, normals):
    """The outward normal derivative on a spatial boundary part: sum_i n_i du/dx_i."""
    terms = [normals[:, i : i + 1] * env[Derivative(output, (x,))] for i, x in enumerate(space)]
    return terms[0] if len(terms) == 1 else sum(terms[1:], terms[0])
