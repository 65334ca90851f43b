"""The training loop: Adam, then optional L-BFGS, data-parallel over a Comm.

Each optimizer runs chunks of steps inside one compiled graph (fewer host
round-trips). A chunk ends at each multiple of `log_every` within its phase and
of `checkpoint.every_steps` overall; there the global per-term losses go to
`log` and the hooks run (checkpoints, stop requests; later resampling and loss
weights). The first chunk of a fresh phase is a single step, timed apart as
compile time.

The whole position lives in state: the optimizers' variables (Adam's moments
and step count, L-BFGS's history and iteration count) say where training is,
and `TrainingLog` holds the statistics so far. `snapshot()` and the `restore_*` methods move
both through a checkpoint, and a restored trainer takes the same steps, in the
same chunks, as one that never stopped.

A non-finite loss or gradient stops a chunk before its update is applied (every
rank sees the same all-reduced numbers, so all stop together); the run ends as
`diverged` at that step with the parameters of the step before.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from pinnrun.spec.schema import Training
from pinnrun.training.adam import Adam
from pinnrun.training.lbfgs import LBFGS, STOP_NONE, STOP_REASONS
from pinnrun.training.losses import LossTerms, unflatten


@dataclass
class PhaseStats:
    name: str
    steps: int = 0
    seconds: float = 0.0  # wall time of the phase, compiles included
    compile_seconds: float = 0.0  # first call of each attempt: tracing + graph building + its steps
    compile_steps: int = 0
    evaluations: int = 0  # loss/gradient evaluations (L-BFGS line search)
    stop_reason: str = "steps done"
    chunks: list[tuple[int, float]] = field(default_factory=list)  # (steps, seconds) per timed call

    def add(self, steps: int, seconds: float, compiling: bool) -> None:
        self.steps += steps
        self.seconds += seconds
        if compiling:
            self.compile_seconds += seconds
            self.compile_steps += steps
        else:
            self.chunks.append((steps, seconds))

    @property
    def mean_seconds_per_step(self) -> float | None:
        timed = self.steps - self.compile_steps
        return (self.seconds - self.compile_seconds) / timed if timed > 0 else None

    @property
    def seconds_per_step(self) -> float | None:
        """Median over the timed chunks; the compile calls are never timed, and the first
        timed chunk (warm-up: caches, allocator, Horovod's first negotiation) only when it is
        all there is."""
        return median_step_seconds(self.chunks)


def median_step_seconds(chunks: list[tuple[int, float]]) -> float | None:
    timed = [(n, s) for n, s in chunks if n > 0]
    if len(timed) > 2:
        timed = timed[1:]
    return float(np.median([s / n for n, s in timed])) if timed else None


@dataclass
class TrainingLog:
    phases: list[PhaseStats] = field(default_factory=list)
    final: dict | None = None  # the last logged record
    status: str = "finished"  # finished | diverged | interrupted
    stopped_by: str | None = None  # interrupted: what asked the ranks to stop (a signal's name)
    diverged: dict | None = None  # diverged: the record of the step whose loss was not finite

    def phase(self, name: str) -> PhaseStats:
        """The phase's statistics so far (a restored run continues them)."""
        for stats in self.phases:
            if stats.name == name:
                return stats
        self.phases.append(PhaseStats(name))
        return self.phases[-1]


@dataclass
class ChunkEnd:
    """What hooks see after each compiled chunk; every rank sees the same."""

    record: dict  # the logged record (global losses)
    requests: list[dict]  # each rank's merged hook polls of this chunk, in rank order
    stop: str | None = None  # a hook sets it to end training after this chunk, e.g. "SIGTERM"


class Hook:
    """Runs between chunks. `poll` is this rank's local view (gathered from every rank in the
    chunk's one collective), so decisions in `after_chunk` are the same on every rank. A hook
    with `every` set has a chunk end at each multiple of it."""

    every: int | None = None

    def before_run(self, trainer: "Trainer") -> None:
        pass

    def poll(self) -> dict:
        return {}

    def after_chunk(self, trainer: "Trainer", end: ChunkEnd) -> None:
        pass

    def after_phase(self, trainer: "Trainer", name: str) -> None:
        pass


class Trainer:
    def __init__(self, losses: LossTerms, params, spec: Training, comm):
        self.losses, self.params, self.spec, self.comm = losses, params, spec, comm
        self.n_params = sum(int(np.prod(p.shape)) for p in params)
        self.adam = Adam(params, spec.adam)
        self.lbfgs = (
            LBFGS(params, self.evaluate, spec.lbfgs, len(losses.names))
            if spec.lbfgs is not None and spec.lbfgs.steps > 0
            else None
        )
        self.log = TrainingLog()
        self.elapsed_before = 0.0  # training seconds of earlier attempts of a resumed run
        self._started: float | None = None
        self.extra: dict = {}  # JSON state hooks keep across checkpoints (e.g. phase digests)
        self.hook_variables: dict[str, tf.Variable] = {}  # state variables of hooks (adaptive points)

    def elapsed(self) -> float:
        """Training seconds so far, earlier attempts of a resumed run included."""
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        return self.elapsed_before + running

    @property
    def step(self) -> int:
        """Steps done: Adam steps, then L-BFGS iterations."""
        return int(self.adam.step.numpy()) + (int(self.lbfgs.iterations.numpy()) if self.lbfgs else 0)

    # Autograph converts every function a tf.function calls, recursively: on a 3x50 Burgers
    # step that was 2.2 of 2.6 s of tracing, paid before the first step. The loss, derivative
    # and expression code has no tensor-dependent Python control flow, so it is left as is.
    @tf.autograph.experimental.do_not_convert
    def evaluate(self):
        """(total loss, flat gradient, global per-term losses, this rank's terms), all-reduced:
        gradients and loss terms travel in one fused all-reduce."""
        local, flat_grad = self.losses.value_and_gradient(self.params)
        reduced = self.comm.allreduce_sum(tf.concat([flat_grad, local], axis=0))
        n = len(self.losses.names)
        terms = reduced[self.n_params : self.n_params + n]
        if self.losses.causal is not None:  # the global time-slice losses set the next step's weights
            self.losses.causal.observe(reduced[self.n_params + n :])
        return tf.reduce_sum(self.losses.weights * terms), reduced[: self.n_params], terms, local[:n]

    def adam_steps(self, adam: Adam):
        """A compiled call running up to n Adam steps; returns the last evaluated step's losses,
        the rate and the steps applied (fewer than n when a loss or gradient was not finite:
        that step's update is not applied)."""

        @tf.function
        def adam_chunk(n):
            total, terms, local, lr = (
                tf.zeros((), self.losses.net.dtype),
                self.losses.weights * 0,
                self.losses.weights * 0,
                tf.zeros((), tf.float64),
            )
            done = tf.constant(0)
            for _ in tf.range(n):
                total, flat_grad, terms, local = self.evaluate()
                if not (tf.math.is_finite(total) and tf.reduce_all(tf.math.is_finite(flat_grad))):
                    break
                lr = adam.apply(unflatten(flat_grad, self.params))
                done += 1
            return total, terms, local, lr, done

        return adam_chunk

    def run(self, log: Callable[[dict], None], hooks: Sequence[Hook] = ()) -> TrainingLog:
        """Train from where the state is to the end, or until a hook stops it or the loss
        diverges; `log` gets each logged record."""
        self._started = time.perf_counter()
        clock = self.elapsed
        for hook in hooks:
            hook.before_run(self)
        adam_spec = self.spec.adam
        causal = self.losses.causal
        if int(self.adam.step.numpy()) < adam_spec.steps:
            if causal is not None:
                causal.active.assign(True)
            chunk = self.adam_steps(self.adam)

            def adam_call(n):
                total, terms, local, lr, done = chunk(tf.constant(n))
                return int(done), total, terms, local, float(lr)

            if not self._phase(
                "adam", adam_call, lambda: int(self.adam.step.numpy()), adam_spec.steps, 0, log, hooks, clock
            ):
                return self.log
        if (
            self.lbfgs is not None
            and int(self.lbfgs.iterations.numpy()) < self.spec.lbfgs.steps
            and int(self.lbfgs.stop.numpy()) == STOP_NONE
        ):
            lbfgs = self.lbfgs
            if causal is not None:  # L-BFGS's line search needs one objective: the plain loss
                causal.active.assign(False)

            def lbfgs_call(n):
                before = int(lbfgs.iterations.numpy())
                total, terms, local = lbfgs.run(tf.constant(n))
                return int(lbfgs.iterations.numpy()) - before, total, terms, local, None

            if not self._phase(
                "lbfgs",
                lbfgs_call,
                lambda: int(lbfgs.iterations.numpy()),
                self.spec.lbfgs.steps,
                adam_spec.steps,
                log,
                hooks,
                clock,
            ):
                return self.log
        return self.log

    def _phase(self, name, call, done_in_phase, steps, offset, log, hooks, clock) -> bool:
        """One phase from where it stands; False when training must end (diverged or stopped)."""
        stats = self.log.phase(name)
        done = done_in_phase()
        compiling = True
        periods = (self.spec.checkpoint.every_steps, *(h.every for h in hooks if h.every))
        for n in chunk_sizes(done, steps, self.spec.log_every, offset, periods, fresh=done == 0):
            t0 = time.perf_counter()
            ran, total, terms, local, lr = call(n)
            stats.add(ran, time.perf_counter() - t0, compiling)
            compiling = False
            finite = ran == n if name == "adam" else self._finite_lbfgs(total)
            if self.lbfgs is not None and name == "lbfgs":
                stats.evaluations = int(self.lbfgs.evaluations.numpy())
            step = offset + done_in_phase() + (0 if finite else 1)
            record, requests = self._log(log, name, step, total, terms, local, lr, clock(), hooks)
            self.log.final = record
            if not finite:
                self.log.status, self.log.diverged = "diverged", record
                stats.stop_reason = f"diverged at step {step}"
                return False
            ended = done_in_phase() >= steps or (name == "lbfgs" and int(self.lbfgs.stop.numpy()) != STOP_NONE)
            if ended:  # before the chunk's hooks: a checkpoint at a phase's last step holds its end
                self._end_phase(name, stats, hooks)
            end = ChunkEnd(record, requests)
            for hook in hooks:
                hook.after_chunk(self, end)
            if end.stop:
                self.log.status, self.log.stopped_by = "interrupted", end.stop
                return False
            if ended:
                return True
        self._end_phase(name, stats, hooks)  # L-BFGS short of its steps: attempts used up
        return True

    def _end_phase(self, name: str, stats: PhaseStats, hooks) -> None:
        if name == "lbfgs":
            stats.stop_reason = STOP_REASONS[int(self.lbfgs.stop.numpy())]
        for hook in hooks:
            hook.after_phase(self, name)

    def _finite_lbfgs(self, total) -> bool:
        """L-BFGS never accepts a non-finite trial; its current loss or gradient can still be."""
        return bool(np.isfinite(float(total)) and np.isfinite(self.lbfgs.g.numpy()).all())

    def _log(self, log, phase, step, total, terms, local, lr, elapsed, hooks=()) -> tuple[dict, list[dict]]:
        # Collective: every rank reaches every chunk end, so gathering here is safe. One gather
        # carries each rank's losses and its hooks' polls.
        # Each rank's share times the ranks: the global mean as that rank's points alone estimate it.
        polls = {}
        for hook in hooks:
            polls.update(hook.poll())
        gathered = self.comm.allgather_object(([float(v) * self.comm.size for v in local.numpy()], polls))
        record = {
            "phase": phase,
            "step": step,
            "loss": float(total),
            "losses": dict(zip(self.losses.names, map(float, terms.numpy()))),
            "rank_losses": [losses for losses, _ in gathered],
            "lr": lr,
            "elapsed": elapsed,
        }
        if self.losses.parameters is not None and self.losses.parameters.names:
            record["parameters"] = self.losses.parameters.numpy()
        if isinstance(self.losses.weights, tf.Variable):
            record["weights"] = dict(zip(self.losses.names, map(float, self.losses.weights.numpy())))
        if self.losses.causal is not None:  # the last time slice's weight: 1 once causality is satisfied
            record["causal_weight"] = float(self.losses.causal.weights.numpy()[-1])
        log(record)
        return record, [p for _, p in gathered]

    # ------------------------------------------------------------------ state
    def state_variables(self) -> dict[str, tf.Variable]:
        """Every variable training changes, by a stable name: the trained variables, then the
        optimizers' states."""
        named = {f"param/{i}": p for i, p in enumerate(self.params)}
        named |= {f"adam/m/{i}": m for i, m in enumerate(self.adam.m)}
        named |= {f"adam/v/{i}": v for i, v in enumerate(self.adam.v)}
        named["adam/step"] = self.adam.step
        if self.lbfgs is not None:
            named |= {f"lbfgs/{k}": getattr(self.lbfgs, k) for k in LBFGS.STATE}
        if isinstance(self.losses.weights, tf.Variable):  # balanced: state (else the spec's, checked on restore)
            named["loss/weights"] = self.losses.weights
        if self.losses.causal is not None:
            named["loss/causal"] = self.losses.causal.weights
        return named | self.hook_variables

    def snapshot(self) -> tuple[dict[str, np.ndarray], dict]:
        """(arrays, meta): the whole training state, for a checkpoint."""
        arrays = {name: v.numpy() for name, v in self.state_variables().items()}
        arrays.setdefault("loss/weights", self.losses.weights.numpy())  # the spec's: checked on restore
        return arrays, {"step": self.step, **self.progress()}

    def progress(self) -> dict:
        """The JSON part of the state: statistics, clock and hook state."""
        return {
            "phases": [dataclasses.asdict(p) for p in self.log.phases],
            "final": self.log.final,
            "elapsed": self.elapsed(),
            "extra": copy.deepcopy(self.extra),
        }

    def set_losses(self, losses: LossTerms) -> None:
        """Train on other points (a rank count that changed): the next chunks are traced anew."""
        self.losses = losses
        if self.lbfgs is not None:
            self.lbfgs.retrace()

    def restore_variables(self, arrays: dict[str, np.ndarray]) -> None:
        """Assign a snapshot's arrays; ValueError (nothing assigned) if they do not fit."""
        named = self.state_variables()
        missing = sorted(set(named) - set(arrays))
        if missing:
            raise ValueError(f"it lacks {', '.join(missing[:4])}: it is not of this spec's training")
        for name, v in named.items():
            if tuple(arrays[name].shape) != tuple(v.shape) or arrays[name].dtype != v.dtype.as_numpy_dtype:
                raise ValueError(
                    f"its {name} is {arrays[name].dtype}{list(arrays[name].shape)}, "
                    f"this spec's {v.dtype.name}{v.shape.as_list()}"
                )
        if "loss/weights" not in named and not np.array_equal(arrays.get("loss/weights"), self.losses.weights.numpy()):
            raise ValueError("it was trained with other loss weights than this spec's")
        for name, v in named.items():
            v.assign(arrays[name])

    def restore_progress(self, meta: dict) -> None:
        """A snapshot's statistics, clock and hook state: training continues them."""
        self.log = TrainingLog(
            [PhaseStats(**{**p, "chunks": [tuple(c) for c in p["chunks"]]}) for p in meta["phases"]], meta.get("final")
        )
        self.elapsed_before = float(meta.get("elapsed", 0.0))
        if self._started is not None:  # restored mid-run (elastic): the clock goes on from the snapshot's
            self._started = time.perf_counter()
        self.extra = copy.deepcopy(meta.get("extra") or {})


def chunk_sizes(done: int, steps: int, every: int, offset: int, periods: int | tuple, fresh: bool):
    """The compiled calls from `done` to `steps` steps of a phase that starts at global step
    `offset`: one step first in a fresh phase (it compiles), then calls ending at each multiple
    of `every` in the phase and of each of `periods` overall (checkpoints, hooks), so logs,
    checkpoints and hooks fall on the same steps whether or not the run was resumed in between."""
    periods = (periods,) if isinstance(periods, int) else periods
    if fresh and done < steps:
        yield 1
        done += 1
    while done < steps:
        end = min(steps, (done // every + 1) * every, *(((offset + done) // p + 1) * p - offset for p in periods))
        yield end - done
        done = end
