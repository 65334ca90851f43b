"""The training loop: Adam, then optional L-BFGS, data-parallel over a Comm.

Each optimizer runs chunks of `log_every` steps inside one compiled graph
(fewer host round-trips); between chunks the global per-term losses go to
`log`. The first chunk is a single step, timed apart as compile time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import tensorflow as tf

from pinnrun.spec.schema import Training
from pinnrun.training.adam import Adam
from pinnrun.training.lbfgs import LBFGS, STOP_REASONS
from pinnrun.training.losses import LossTerms, flatten, unflatten


@dataclass
class PhaseStats:
    name: str
    steps: int = 0
    seconds: float = 0.0           # wall time of the phase, compile included
    compile_seconds: float = 0.0   # first call: tracing + graph building + one step
    evaluations: int = 0           # loss/gradient evaluations (L-BFGS line search)
    stop_reason: str = "steps done"
    chunks: list[tuple[int, float]] = field(default_factory=list)  # (steps, seconds) per compiled call

    @property
    def mean_seconds_per_step(self) -> float | None:
        timed = self.steps - 1
        return (self.seconds - self.compile_seconds) / timed if timed > 0 else None

    @property
    def seconds_per_step(self) -> float | None:
        """Median over the timed chunks; the first (compile) is never timed, and the
        second (warm-up: caches, allocator, Horovod's first negotiation) only when
        it is all there is."""
        return median_step_seconds(self.chunks)


def median_step_seconds(chunks: list[tuple[int, float]]) -> float | None:
    timed = [(n, s) for n, s in chunks[1:] if n > 0]
    if len(timed) > 2:
        timed = timed[1:]
    return float(np.median([s / n for n, s in timed])) if timed else None


@dataclass
class TrainingLog:
    phases: list[PhaseStats] = field(default_factory=list)
    final: dict | None = None      # the last logged record


class Trainer:
    def __init__(self, losses: LossTerms, params, spec: Training, comm):
        self.losses, self.params, self.spec, self.comm = losses, params, spec, comm
        self.n_params = sum(int(np.prod(p.shape)) for p in params)

    # Autograph converts every function a tf.function calls, recursively: on a 3x50 Burgers
    # step that was 2.2 of 2.6 s of tracing, paid before the first step. The loss, derivative
    # and expression code has no tensor-dependent Python control flow, so it is left as is.
    @tf.autograph.experimental.do_not_convert
    def evaluate(self):
        """(total loss, flat gradient, global per-term losses, this rank's terms), all-reduced:
        gradients and loss terms travel in one fused all-reduce."""
        with tf.GradientTape() as tape:
            local = self.losses()
            total_local = tf.reduce_sum(self.losses.weights * local)
        grads = tape.gradient(total_local, self.params)
        reduced = self.comm.allreduce_sum(tf.concat([flatten(grads), local], axis=0))
        terms = reduced[self.n_params:]
        return tf.reduce_sum(self.losses.weights * terms), reduced[:self.n_params], terms, local

    def adam_steps(self, adam: Adam):
        """A compiled call running n Adam steps; returns the last step's losses and rate."""
        @tf.function
        def adam_chunk(n):
            total, terms, local, lr = tf.zeros((), self.losses.net.dtype), self.losses.weights * 0, \
                self.losses.weights * 0, tf.zeros((), tf.float64)
            for _ in tf.range(n):
                total, flat_grad, terms, local = self.evaluate()
                lr = adam.apply(unflatten(flat_grad, self.params))
            return total, terms, local, lr
        return adam_chunk

    def run(self, log: Callable[[dict], None], after_phase: Callable[[str], None] = lambda name: None
            ) -> TrainingLog:
        """Train; `log` gets each logged record, `after_phase` each finished phase's name."""
        result = TrainingLog()
        start = time.perf_counter()
        step = 0
        if self.spec.adam.steps > 0:
            adam_chunk = self.adam_steps(Adam(self.params, self.spec.adam))
            stats = PhaseStats("adam")
            for n in _chunks(self.spec.adam.steps, self.spec.log_every):
                t0 = time.perf_counter()
                total, terms, local, lr = adam_chunk(tf.constant(n))
                _ = float(total)  # wait for the chunk
                stats.chunks.append((n, time.perf_counter() - t0))
                stats.seconds += stats.chunks[-1][1]
                if stats.steps == 0:
                    stats.compile_seconds = stats.seconds
                stats.steps += n
                step += n
                result.final = self._log(log, "adam", step, total, terms, local, float(lr), start)
            result.phases.append(stats)
            after_phase("adam")

        if self.spec.lbfgs is not None and self.spec.lbfgs.steps > 0:
            lbfgs = LBFGS(self.params, self.evaluate, self.spec.lbfgs, len(self.losses.names))
            stats = PhaseStats("lbfgs")
            for chunk, n in enumerate(_chunks(self.spec.lbfgs.steps, self.spec.log_every)):
                t0 = time.perf_counter()
                total, terms, local = lbfgs.run(tf.constant(n))
                _ = float(total)
                done = int(lbfgs.iterations.numpy())
                stats.chunks.append((done - stats.steps, time.perf_counter() - t0))
                stats.seconds += stats.chunks[-1][1]
                if chunk == 0:
                    stats.compile_seconds = stats.seconds
                step += done - stats.steps
                stats.steps = done
                result.final = self._log(log, "lbfgs", step, total, terms, local, None, start)
                if int(lbfgs.stop.numpy()):
                    break
            stats.evaluations = int(lbfgs.evaluations.numpy())
            stats.stop_reason = STOP_REASONS[int(lbfgs.stop.numpy())]
            result.phases.append(stats)
            after_phase("lbfgs")
        return result

    def _log(self, log, phase, step, total, terms, local, lr, start) -> dict:
        # Collective: every rank reaches every log point, so gathering here is safe.
        # Each rank's share times the ranks: the global mean as that rank's points alone estimate it.
        rank_losses = self.comm.allgather_object([float(v) * self.comm.size for v in local.numpy()])
        record = {
            "phase": phase, "step": step, "loss": float(total),
            "losses": dict(zip(self.losses.names, map(float, terms.numpy()))),
            "rank_losses": rank_losses, "lr": lr, "elapsed": time.perf_counter() - start,
        }
        if self.losses.parameters is not None and self.losses.parameters.names:
            record["parameters"] = self.losses.parameters.numpy()
        log(record)
        return record


def _chunks(steps: int, every: int):
    """1 (compiles), then up to `every` at a time, so logs fall on multiples of `every`."""
    if steps <= 0:
        return
    yield 1
    done = 1
    while done < steps:
        n = min(every - done % every, steps - done)
        yield n
        done += n
