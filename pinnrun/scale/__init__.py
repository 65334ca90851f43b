"""Scaling studies: sweeps over ranks, the ring all-reduce cost model, h-analysis."""
