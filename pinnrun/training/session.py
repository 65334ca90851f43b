"""One training session from (spec, comm): problem, this rank's points, model,
parameters, loss and trainer. The worker, the scripts, the probes and the tests
all build what they train with this one function."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from pinnrun.model import mlp
from pinnrun.model.parameters import Parameters
from pinnrun.problem.build import build_problem
from pinnrun.problem.problem import Problem
from pinnrun.problem.terms.base import Batch
from pinnrun.sampling.collocation import sample_problem
from pinnrun.spec.loader import LoadedSpec, load_spec
from pinnrun.spec.adapt import adapted_terms
from pinnrun.spec.memory import micro_batch_points
from pinnrun.training.adapt import AdaptivePoints
from pinnrun.training.balance import LossBalancing
from pinnrun.training.causal import CausalWeights
from pinnrun.training.losses import LossTerms
from pinnrun.training.trainer import Trainer


@dataclass
class Session:
    loaded: LoadedSpec
    problem: Problem
    batches: dict[str, Batch]  # this rank's points of every term
    net: object  # MLP or TransformedNet
    parameters: Parameters
    losses: LossTerms
    trainer: Trainer
    comm: object
    adaptive: AdaptivePoints | None = None  # sampling.adapt
    balancing: LossBalancing | None = None  # training.loss_balancing
    weighting: tuple = (None, None)  # (balanced weights, causal weights): made once, kept by reshard

    @property
    def spec(self):
        return self.loaded.spec

    @property
    def hooks(self) -> list:
        """What the spec adds to training, run before the caller's hooks."""
        return [h for h in (self.adaptive, self.balancing) if h is not None]

    @property
    def variables(self) -> list:
        """Everything trained: the network's weights, then the unknown parameters."""
        return self.trainer.params

    def train(self, log, hooks=()):
        """Train to the end (trainer.run) with the spec's hooks first: a checkpoint taken at a
        round's step then holds that round's points."""
        return self.trainer.run(log, [*self.hooks, *hooks])

    def reshard(self) -> None:
        """This rank's points for the comm's rank and size now (an elastic job that shrank or
        grew): strong scaling splits the same global points anew, weak scaling draws as many
        per rank as before, so the global set changes with the ranks."""
        self.batches = _sample(self.problem, self.spec, self.comm)
        self.losses = _losses(
            self.loaded, self.problem, self.batches, self.net, self.parameters, self.comm, weighting=self.weighting
        )
        self.trainer.set_losses(self.losses)


def _sample(problem: Problem, s, comm) -> dict[str, Batch]:
    return sample_problem(problem, s.sampling.method, s.training.seed, comm.rank, comm.size, s.scaling)


def _losses(
    loaded: LoadedSpec, problem: Problem, batches, net, parameters, comm, extra_rows=None, weighting=(None, None)
) -> LossTerms:
    """This rank's loss, in micro-batches when the spec asks (training.micro_batch, or what
    training.memory_budget allows on this many ranks); adaptive terms' points in variables."""
    micro_batch = micro_batch_points(loaded.spec, comm.size, loaded.expressions)
    return LossTerms(
        problem,
        batches,
        net,
        parameters,
        micro_batch,
        adaptive=adapted_terms(loaded.spec),
        extra_rows=extra_rows,
        weights=weighting[0],
        causal=weighting[1],
    )


def _weighting(s, problem: Problem, dtype) -> tuple:
    """The loss weights training changes, as variables: balanced term weights, causal weights."""
    weights = causal = None
    if s.training.loss_balancing is not None:
        weights = tf.Variable([t.weight for t in problem.terms], dtype=dtype, trainable=False, name="loss_weights")
    if s.training.causal is not None:
        c = s.training.causal
        causal = CausalWeights(
            c.term or next(iter(s.pde)),
            problem.inputs.index(s.variables.time),
            problem.time_domain,
            c.chunks,
            c.epsilon,
            dtype,
        )
    return weights, causal


def build_session(spec: LoadedSpec | str | Path, comm, overrides: list[str] = (), broadcast: bool = True) -> Session:
    """`broadcast=False` leaves the variables as this rank initialised them (elastic training
    broadcasts them itself: no collective may run before it)."""
    loaded = spec if isinstance(spec, LoadedSpec) else load_spec(spec, list(overrides))
    s = loaded.spec
    problem = build_problem(loaded)
    batches = _sample(problem, s, comm)
    net, parameters = mlp.build_network(s, problem)
    variables = [*net.params, *parameters.params]
    if broadcast:
        comm.broadcast_variables(variables)  # one model, whatever each rank initialised
    session = Session(loaded, problem, batches, net, parameters, None, None, comm)
    session.weighting = _weighting(s, problem, net.dtype)
    adaptive = AdaptivePoints(session) if s.sampling.adapt is not None else None
    session.losses = _losses(
        loaded, problem, batches, net, parameters, comm, adaptive.extra_rows() if adaptive else None, session.weighting
    )
    session.trainer = Trainer(session.losses, variables, s.training, comm)
    if adaptive:
        session.trainer.hook_variables |= adaptive.variables()
        session.adaptive = adaptive
    if s.training.loss_balancing is not None:
        session.balancing = LossBalancing(session)
    return session
