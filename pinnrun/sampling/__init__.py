"""Sampling: collocation points as per-rank shards of one global sequence."""
