"""What a training step costs, taken apart: compute alone, and all-reduce alone.

Run after training by a scaling study (`pinnrun scale`), on every rank at once
so that ranks contend for the machine as they did while training:
- compute: the same compiled Adam steps without the all-reduce, on this
  rank's points and on half of them (two sizes fit compute = fixed + per point);
- all-reduce: the fused gradient all-reduce alone, at 1, 4, 16 and 64 times
  the model's gradient size (several sizes fit latency and bandwidth).
The parameters are restored afterwards: the probe changes no result.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from pinnrun.problem.terms.base import Batch
from pinnrun.training.adam import Adam
from pinnrun.training.comm import LocalComm
from pinnrun.training.losses import LossTerms
from pinnrun.training.trainer import Trainer

REPEATS = 7
TARGET_SECONDS = 0.25  # per timed repeat: long enough to swamp timer noise
MESSAGE_MULTIPLES = (1, 4, 16, 64)


def halve(batches: dict[str, Batch]) -> dict[str, Batch]:
    return {name: b.head((b.shard.count + 1) // 2) for name, b in batches.items()}


def measure_step_costs(session) -> dict:
    problem, points, net, comm = session.problem, session.batches, session.net, session.comm
    params = session.variables
    saved = [p.numpy() for p in params]
    try:
        compute = [_compute_seconds(session, pts) for pts in (points, halve(points))]
        n_values = sum(int(np.prod(p.shape)) for p in params) + len(problem.terms)
        itemsize = net.dtype.size
        allreduce = (
            [
                {"bytes": m * n_values * itemsize, "seconds": _allreduce_seconds(m * n_values, net.dtype, comm)}
                for m in MESSAGE_MULTIPLES
            ]
            if comm.size > 1
            else []
        )
    finally:
        for p, value in zip(params, saved):
            p.assign(value)
    return {
        "compute": [{"points_per_rank": n, "seconds_per_step": s} for n, s in compute],
        "allreduce": allreduce,
        "gradient_bytes": n_values * itemsize,
    }


def _compute_seconds(session, points) -> tuple[int, float]:
    """Median seconds per Adam step with no all-reduce, all ranks timing together, in calls of
    `log_every` steps as in training (so both carry the same per-call overhead)."""
    training_spec, comm = session.spec.training, session.comm
    losses = LossTerms(session.problem, points, session.net, session.parameters)
    trainer = Trainer(losses, session.variables, training_spec, LocalComm())
    steps = trainer.adam_steps(Adam(session.variables, training_spec.adam))
    per_step = _timed(lambda k: steps(tf.constant(k))[0], training_spec.log_every, comm)
    return sum(len(p.x) for p in points.values()), per_step


def _allreduce_seconds(n: int, dtype, comm) -> float:
    @tf.function
    def loop(x, k):
        for _ in tf.range(k):
            x = comm.allreduce_sum(x, name=f"pinnrun_probe_{n}")
        return x[0]

    x = tf.ones([n], dtype)
    return _timed(lambda k: loop(x, tf.constant(k)), 50, comm)


def _timed(run, per_call: int, comm) -> float:
    """Median seconds per iteration of `run(per_call)`, called often enough (rank 0 decides,
    from a trial) that a repeat lasts about TARGET_SECONDS; repeats start together on all ranks."""
    float(run(1))  # compile
    t0 = time.perf_counter()
    float(run(per_call))
    trial = time.perf_counter() - t0
    calls = comm.allgather_object(int(np.clip(TARGET_SECONDS / max(trial, 1e-7), 1, 1000)))[0]
    times = []
    for _ in range(REPEATS):
        comm.allgather_object(None)  # a barrier
        t0 = time.perf_counter()
        for _ in range(calls):
            float(run(per_call))
        times.append((time.perf_counter() - t0) / (calls * per_call))
    return float(np.median(times))
