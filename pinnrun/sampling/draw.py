"""Exact per-rank blocks of a region part's points, rejection sampling included.

The accepted sequence of a part is the accepted candidates of one endless candidate
stream, in order; rank r takes rows start..start+count of it. Every rank scans the
stream from the beginning, counting kept candidates until its block is complete, so
k ranks hold exactly what one rank holds with the global count: no duplicates, no
gaps, exact counts. The scan costs O(global candidates) of vectorised numpy per rank:
the last rank's block of 1,000,000 global points of a square minus a disk (acceptance
0.93) takes 0.05 s (Sobol, pseudo-random) to 0.2 s (Halton, Hammersley) on the dev box.

Sobol, Halton and pseudo-random are one global stream; Hammersley and LHS are defined
only as whole sets, so their stream is chunks, chunk j being that method's set of
CHUNK points seeded from (seed, j).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

from pinnrun.problem.regions.base import PartSampler, RegionError
from pinnrun.sampling.sequences import METHODS, unit_block

CHUNK = 1 << 14
STREAM_METHODS = ("sobol", "halton", "pseudo-random", "uniform")
# A part none of whose first 2**20 candidates is kept is refused: it is empty (or so thin
# that drawing it would take unbounded time).
MAX_EMPTY_CANDIDATES = 1 << 20


class EmptyPart(RegionError):
    """No candidate of a rejection-sampled part is kept."""


def draw(
    sampler: PartSampler, method: str, seed: int, start: int, count: int, total: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows start..start+count of the accepted point sequence of global length `total`,
    with their outward normals (None for an interior)."""
    if method not in METHODS:
        raise ValueError(f"unknown sampling method '{method}' (methods: {', '.join(METHODS)})")
    if not 0 <= start <= start + count <= total:
        raise ValueError(f"block [{start}, {start + count}) outside a sequence of {total}")
    if sampler.accept is None:
        return sampler.map(unit_block(method, sampler.unit_dim, seed, start, count, total))
    end = start + count
    xs, normals, kept = [], [], 0
    for chunk, u in enumerate(candidate_chunks(method, sampler.unit_dim, seed)):
        x, n = sampler.map(u)
        rows = np.flatnonzero(sampler.accept(u, x, n))
        if kept == 0 and not len(rows) and (chunk + 1) * CHUNK >= MAX_EMPTY_CANDIDATES:
            raise EmptyPart(
                f"no point of the first {MAX_EMPTY_CANDIDATES} candidates lies in it: "
                f"the part or region is empty or too thin to sample"
            )
        take = rows[max(0, start - kept) : max(0, end - kept)]
        xs.append(x[take])
        normals.append(None if n is None else n[take])
        kept += len(rows)
        if kept >= end:
            break
    return np.concatenate(xs), (None if normals[0] is None else np.concatenate(normals))


def candidate_chunks(method: str, unit_dim: int, seed: int):
    """The endless candidate stream, CHUNK rows at a time."""
    if method in ("sobol", "halton"):
        # one engine drawn in sequence == fresh engines fast-forwarded (as unit_block does), only
        # cheaper: a scrambled Halton engine takes ~0.1 s to set up
        engine = (qmc.Sobol if method == "sobol" else qmc.Halton)(d=max(unit_dim, 1), scramble=True, seed=seed)
        while True:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                yield engine.random(CHUNK)[:, :unit_dim]
    chunk = 0
    while True:
        if method in STREAM_METHODS:
            yield unit_block(method, unit_dim, seed, chunk * CHUNK, CHUNK, (chunk + 1) * CHUNK)
        else:
            chunk_seed = int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])
            yield unit_block(method, unit_dim, chunk_seed, 0, CHUNK, CHUNK)
        chunk += 1
