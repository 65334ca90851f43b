"""Choosing points by their residual, the same on any number of ranks.

Every round draws candidates as a fresh global sequence sharded like the term's
points (each rank evaluates only its block), and the choice is global: it
depends on the candidates' global indices and residuals, never on where a
candidate was evaluated, so k ranks choose exactly the points one rank would
(within the rounding of the residuals themselves).

- RAD (Wu et al. 2023) draws the term's points without replacement with
  probability proportional to |r|^k / mean |r|^k + c, as the smallest keys
  E_i / w_i (Efraimidis & Spirakis 2006), E_i exponential numbers of a stream
  indexed by the candidate's global index: each rank draws its own block of
  it, and the global choice is the smallest keys of all ranks'.
- RAR (Lu et al. 2021) takes the candidates of largest |r|.

The chosen points, in global-index order, are gathered on every rank (every
rank holds the global choice: it is training state, checkpointed by rank 0),
and each rank trains on its block of them, so the ranks stay balanced.
"""

from __future__ import annotations

import copy

import numpy as np
import tensorflow as tf

from pinnrun.problem.terms.base import Batch, Draw, Term
from pinnrun.sampling.sequences import unit_block
from pinnrun.sampling.shards import Shard

RESAMPLE, CANDIDATES, KEYS = 1, 2, 3  # independent streams of a round


def round_seed(seed: int, round_: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, stream, round_]).generate_state(1)[0])


def draw_round(where: Draw, term: Term, count: int, round_: int, stream: int) -> Batch:
    """This rank's block of round `round_`'s fresh sequence of `count` points of the term's part
    (per rank when weak, like the term's own points)."""
    fresh = copy.copy(term)
    fresh.points = count
    return fresh.sample(
        Draw(where.problem, where.method, round_seed(where.seed, round_, stream), where.rank, where.size, where.scaling)
    )


def rad_choice(candidates: Batch, squares: np.ndarray, count: int, k: float, c: float, seed: int, comm) -> Batch:
    """`count` of all ranks' candidates, drawn without replacement with probability proportional
    to |r|^k / mean |r|^k + c (`squares` = |r|^2 of this rank's); every rank gets the whole choice."""
    block = candidates.shard
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = 0.5 * k * np.log(np.nan_to_num(squares, nan=0.0, posinf=np.finfo(np.float64).max))
    # |r|^k / mean |r|^k is scale-free: divide by the largest |r|^k first so nothing overflows
    top = max(comm.allgather_object(float(log_p.max()) if len(log_p) else -np.inf))
    p = np.exp(log_p - top) if np.isfinite(top) else np.zeros_like(log_p)
    total = float(comm.allreduce_sum(tf.constant([p.sum()], tf.float64), name="pinnrun_rad_sum").numpy()[0])
    w = p / (total / block.total) + c if total > 0 else np.ones_like(p)
    u = unit_block("pseudo-random", 1, seed, block.start, block.count, block.total)[:, 0]
    with np.errstate(divide="ignore"):
        keys = -np.log1p(-u) / w  # exponential over the weight; w = 0 never chosen (inf)
    return gather_rows(candidates, smallest(keys, block.start, count, comm), comm)


def rar_choice(candidates: Batch, squares: np.ndarray, count: int, comm) -> Batch:
    """The `count` candidates of all ranks with the largest |r| (ties: lower global index)."""
    keys = -np.nan_to_num(squares, nan=-np.inf)  # a non-finite residual is never chosen
    return gather_rows(candidates, smallest(keys, candidates.shard.start, count, comm), comm)


def smallest(keys: np.ndarray, first: int, count: int, comm) -> np.ndarray:
    """Which of this rank's keys (global indices first, first + 1, ...) are among the `count`
    smallest of all ranks' (ties: the lower global index). Each rank sends its own `count`
    smallest at most: one gather of 16 bytes a candidate."""
    index = first + np.arange(len(keys))
    order = np.lexsort((index, keys))[:count]
    mine = np.stack([keys[order], index[order].astype(np.float64)], axis=1)
    every = comm.allgather(tf.constant(mine.reshape(-1, 2), tf.float64), name="pinnrun_adapt_keys").numpy()
    if len(every) < count:  # no rank held `count` keys: every key is chosen
        return np.ones(len(keys), bool)
    key, at = every[np.lexsort((every[:, 1], every[:, 0]))[count - 1]]
    return (keys < key) | ((keys == key) & (index <= at))


def gather_rows(batch: Batch, chosen: np.ndarray, comm) -> Batch:
    """The chosen rows of every rank's batch, in rank order (so in global-index order), as one
    batch every rank holds."""
    rows = packed(batch)[chosen]
    every = comm.allgather(tf.constant(rows, tf.float64), name="pinnrun_adapt_rows").numpy()
    return unpacked(every, batch)


def packed(batch: Batch) -> np.ndarray:
    """(n, inputs + array columns): x and the arrays (by name) side by side, as rounds gather
    and keep them."""
    return np.concatenate([batch.x, *(batch.arrays[k] for k in sorted(batch.arrays))], axis=1).reshape(len(batch.x), -1)


def unpacked(rows: np.ndarray, like: Batch) -> Batch:
    """`packed` undone: a batch of the term `like` is one of, holding `rows`."""
    names = sorted(like.arrays)
    widths = np.cumsum([like.x.shape[1], *(like.arrays[k].shape[1] for k in names)])[:-1]
    parts = np.split(rows, widths, axis=1)
    return Batch(parts[0], Shard(0, len(rows), len(rows)), dict(zip(names, parts[1:])), like.components, like.blocks)


def rows_of(batch: Batch, block: Shard) -> Batch:
    """Rows block.start .. block.start + block.count of a batch every rank holds."""
    pick = slice(block.start, block.start + block.count)
    return Batch(batch.x[pick], block, {k: v[pick] for k, v in batch.arrays.items()}, batch.components, batch.blocks)
