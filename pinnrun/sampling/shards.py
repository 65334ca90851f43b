"""Which block of a term's global point sequence one rank owns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    start: int  # first index of this rank's block in the global sequence
    count: int  # points on this rank
    total: int  # points over all ranks


def shard(points: int, rank: int, size: int, scaling: str) -> Shard:
    """weak: `points` per rank, block `rank` of size*points; strong: `points` split in blocks.

    Strong blocks differ by at most one point when `points` % size != 0; the loss
    then weights each rank by its share (see training/losses.py), so the global
    mean stays exact.
    """
    if not 0 <= rank < size:
        raise ValueError(f"rank {rank} outside 0..{size - 1}")
    if scaling == "weak":
        return Shard(rank * points, points, size * points)
    if scaling == "strong":
        base, extra = divmod(points, size)
        return Shard(rank * base + min(rank, extra), base + (rank < extra), points)
    raise ValueError(f"unknown scaling mode '{scaling}' (weak, strong)")
