"""Adaptive collocation points: a hook that changes the points of some terms every
`sampling.adapt.every` Adam steps. L-BFGS keeps the points Adam ended with (its history
and line search assume one loss), unless `sampling.adapt.lbfgs`: then rounds go on through
it, and each restarts L-BFGS from the new loss (history dropped, loss and gradient anew).

- resample: each rank draws its block of a fresh global sequence (round j's seed);
- rad: the term's points are drawn from fresh candidates by their residual;
- rar: the candidates of largest residual are added to the term's points.

What a round chose is training state (variables, checkpointed and restored with
the rest); resampled points need none: round j's are a function of j. The new
points are assigned to the loss's variables, so nothing is retraced.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pinnrun.problem.terms.base import Batch, Draw
from pinnrun.sampling.adaptive import (
    CANDIDATES,
    KEYS,
    RESAMPLE,
    draw_round,
    packed,
    rad_choice,
    rar_choice,
    round_seed,
    rows_of,
    unpacked,
)
from pinnrun.sampling.collocation import term_seed
from pinnrun.sampling.shards import Shard, shard
from pinnrun.spec.adapt import adapt_rounds, adapted_terms, candidate_count
from pinnrun.training.trainer import ChunkEnd, Hook, Trainer


class AdaptivePoints(Hook):
    def __init__(self, session):
        s = session.spec
        self.session, self.spec, self.adapt = session, s, s.sampling.adapt
        self.every = self.adapt.every
        self.total_rounds = adapt_rounds(s)
        self.terms = {t.name: (i, t) for i, t in enumerate(session.problem.terms) if t.name in adapted_terms(s)}
        self.original = {name: session.batches[name] for name in self.terms}
        dtype = tf.float64
        self.rounds = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.state: dict[str, tf.Variable] = {}
        for name in self.terms:
            batch = self.original[name]
            width = batch.x.shape[1] + sum(v.shape[1] for v in batch.arrays.values())
            if self.adapt.method != "resample":  # the global choice, on every rank: x and arrays side by side
                rows = batch.shard.total if self.adapt.method == "rad" else self.total_rounds * self._added().total
                self.state[name] = tf.Variable(np.zeros((rows, width)), dtype=dtype, trainable=False)

    def variables(self) -> dict[str, tf.Variable]:
        return {"adapt/rounds": self.rounds, **{f"adapt/{name}": v for name, v in self.state.items()}}

    def extra_rows(self) -> dict[str, int]:
        """Rows a RAR term's loss reserves on this rank for the points it will gain."""
        if self.adapt.method != "rar":
            return {}
        return {name: self.total_rounds * self._added().count for name in self.terms}

    def _added(self) -> Shard:
        """This rank's block of one RAR round's added points (counted like points)."""
        comm = self.session.comm
        return shard(self.adapt.add, comm.rank, comm.size, self.spec.scaling)

    def _where(self, name: str) -> Draw:
        index, _ = self.terms[name]
        comm, s = self.session.comm, self.spec
        return Draw(
            self.session.problem, s.sampling.method, term_seed(s.training.seed, index), comm.rank, comm.size, s.scaling
        )

    # --------------------------------------------------------------- hook
    def before_run(self, trainer: Trainer) -> None:
        """Put the points of the rounds done in place (a resumed run's state)."""
        if int(self.rounds.numpy()):
            self._apply(int(self.rounds.numpy()))

    def after_chunk(self, trainer: Trainer, end: ChunkEnd) -> None:
        step, phase = trainer.step, end.record["phase"]
        if (
            (phase == "lbfgs" and not self.adapt.lbfgs)
            or step % self.every
            or not int(self.rounds.numpy()) < step // self.every <= self.total_rounds
        ):
            return
        self.round(step // self.every)
        if phase == "lbfgs":  # another loss now: its curvature history and f, g are stale
            trainer.lbfgs.restart()

    def round(self, j: int) -> None:
        """Round j (1-based): choose, record the choice, train on it."""
        method = self.adapt.method
        for name, (_, term) in self.terms.items():
            if method == "resample":
                continue
            where = self._where(name)
            candidates = draw_round(where, term, candidate_count(self.spec, name), j, CANDIDATES)
            # candidates a training step's worth at a time: what fits in training fits here
            chunk = self.session.losses.micro_batch or max(len(self.original[name].x), 1024)
            squares = self.session.losses.pointwise(name, candidates, chunk)
            comm = self.session.comm
            if method == "rad":
                chosen = rad_choice(
                    candidates,
                    squares,
                    self.original[name].shard.total,
                    self.adapt.k,
                    self.adapt.c,
                    round_seed(where.seed, j, KEYS),
                    comm,
                )
                self.state[name].assign(packed(chosen))
            else:
                add = self._added().total
                chosen = rar_choice(candidates, squares, add, comm)
                self.state[name][(j - 1) * add : j * add].assign(packed(chosen))
        self.rounds.assign(j)
        self._apply(j)

    def _apply(self, j: int) -> None:
        """Train on round j's points (this rank's block of each term's)."""
        for name, (_, term) in self.terms.items():
            original, method = self.original[name], self.adapt.method
            total = None
            if method == "resample":
                batch = draw_round(self._where(name), term, term.points, j, RESAMPLE)
            elif method == "rad":
                batch = rows_of(unpacked(self.state[name].numpy(), original), original.shard)
            else:
                added = self._added()
                rows = self.state[name].numpy()[: j * added.total]
                blocks = [
                    rows_of(unpacked(rows[r * added.total : (r + 1) * added.total], original), added) for r in range(j)
                ]
                total = original.shard.total + j * added.total
                batch = _concat(
                    [original, *blocks], Shard(original.shard.start, original.shard.count + j * added.count, total)
                )
            self.session.losses.replace_points(name, batch, total)
            self.session.batches[name] = batch


def _concat(batches: list[Batch], block: Shard) -> Batch:
    first = batches[0]
    return Batch(
        np.concatenate([b.x for b in batches]),
        block,
        {k: np.concatenate([b.arrays[k] for b in batches]) for k in first.arrays},
        first.components,
        first.blocks,
    )
