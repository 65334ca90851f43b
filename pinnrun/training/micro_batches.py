"""A rank's shard laid out as micro-batches: the same points, evaluated a slice at a time.

Memory of a step grows with the points evaluated at once (every nested gradient tape keeps
the activations of the level below), so a shard larger than one forward and backward pass
fits is evaluated in m micro-batches whose losses and gradients are summed. Micro-batch i
holds the i-th slice of every term (each term split into m slices of equal length), so each
micro-batch needs the same memory and the compiled loop body is traced once.

A term's n points become m slices of ceil(n / m) rows; the last slices are padded by
repeating the term's last point, and a mask of zeros removes the padding rows from the loss
(a padded row's residual is a real point's, so finite: 0 x r adds exactly nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pinnrun.problem.terms.base import Batch


@dataclass(frozen=True)
class Stacked:
    """One term's points as m micro-batches of `rows` points each."""

    x: np.ndarray  # (m, blocks * rows, inputs): each slice keeps the term's row blocks
    arrays: dict[str, np.ndarray]  # (m, rows, k)
    mask: np.ndarray | None  # (m, rows, 1) 1 for a real point, 0 for padding; None: no padding


def stack(batch: Batch, m: int) -> Stacked:
    """An empty strong-scaling block (n = 0) becomes m empty slices."""
    n = len(batch.x) // batch.blocks
    rows = math.ceil(n / m)
    padded = rows * m

    def slices(a: np.ndarray) -> np.ndarray:
        """(n, k) -> (m, rows, k), padded by repeating the last row."""
        if padded > n:
            a = np.concatenate([a, np.repeat(a[-1:], padded - n, axis=0)])
        return a.reshape(m, rows, a.shape[1])

    blocks = [slices(batch.x[b * n : (b + 1) * n]) for b in range(batch.blocks)]
    mask = None
    if padded > n:
        mask = (np.arange(padded) < n).astype(np.float64).reshape(m, rows, 1)
    return Stacked(np.concatenate(blocks, axis=1), {k: slices(v) for k, v in batch.arrays.items()}, mask)
