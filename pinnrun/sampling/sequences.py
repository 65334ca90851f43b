"""Unit-cube point sequences from which any block can be drawn.

Each rank draws only its own block [start, start + count) of one global
sequence, so the union over ranks is exactly what one rank would draw with
the global count, and no rank has to hold the global set (LHS excepted: a
Latin hypercube is defined only as a whole, so every rank builds it).

Hammersley here is the scrambled variant: first coordinate (i + s) / total with one
seeded shift s in [0, 1), the others scrambled (seeded) Halton radical inverses in
primes 2, 3, 5, ...; unscrambled, every seed would give the same points.
"pseudo-random" is PCG64 numbers; "uniform" is its old name, still accepted.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

METHODS = ("sobol", "halton", "hammersley", "pseudo-random", "uniform", "lhs")


def unit_block(method: str, dim: int, seed: int, start: int, count: int, total: int) -> np.ndarray:
    """Rows start..start+count of the `total`-point sequence `method` in [0, 1)^dim."""
    if not 0 <= start <= start + count <= total:
        raise ValueError(f"block [{start}, {start + count}) outside a sequence of {total}")
    if dim == 0 or count == 0:
        return np.zeros((count, dim))
    if method in ("sobol", "halton"):
        engine = (qmc.Sobol if method == "sobol" else qmc.Halton)(d=dim, scramble=True, seed=seed)
        if start:  # scipy's Sobol fast_forward(0) underflows
            engine.fast_forward(start)
        with warnings.catch_warnings():  # Sobol warns about non-power-of-2 counts; blocks rarely are
            warnings.simplefilter("ignore", UserWarning)
            return engine.random(count)
    if method == "hammersley":
        return _hammersley(dim, seed, start, count, total)
    if method in ("pseudo-random", "uniform"):
        bits = np.random.PCG64(seed)
        bits.advance(start * dim)  # one 64-bit draw per double
        return np.random.Generator(bits).random((count, dim))
    if method == "lhs":
        return qmc.LatinHypercube(d=dim, seed=seed).random(total)[start : start + count]
    raise ValueError(f"unknown sampling method '{method}' (methods: {', '.join(METHODS)})")


def _hammersley(dim: int, seed: int, start: int, count: int, total: int) -> np.ndarray:
    shift = np.random.default_rng(seed).random()
    first = (np.arange(start, start + count, dtype=np.float64) + shift) / total
    if dim == 1:
        return first[:, None]
    engine = qmc.Halton(d=dim - 1, scramble=True, seed=seed)
    if start:
        engine.fast_forward(start)
    return np.concatenate([first[:, None], engine.random(count)], axis=1)
