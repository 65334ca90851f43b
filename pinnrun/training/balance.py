"""Loss balancing: the terms' weights set from their gradients every `every` Adam steps.

Each rank computes the gradient of each term's objective over its own points, one all-reduce
sums them (n_terms x parameters numbers), and every rank derives the same weights from the
same sums, so the ranks stay bit-identical:

- grad_norm (Wang, Sankaran, Wang & Perdikaris, "An expert's guide to training PINNs", 2023):
  w_i = sum_j |g_j| / |g_i| (2-norms): every weighted term pulls equally hard.
- annealing (Wang, Teng & Perdikaris, "Understanding and mitigating gradient pathologies in
  PINNs", 2021, learning-rate annealing): each condition's w_i = max |g_pde| / mean |g_i|, with
  g_pde the pde terms' weighted gradient; pde terms keep their weights.

New weights are averaged in, w <- momentum w + (1 - momentum) w_new. A term whose gradient is 0
or not finite, or whose spec weight is 0 (switched off), keeps its weight. L-BFGS trains with
the weights Adam ended with. The weights are training state (checkpointed).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pinnrun.spec.schema import MAX_LOSS_WEIGHT
from pinnrun.training.trainer import ChunkEnd, Hook, Trainer


class LossBalancing(Hook):
    def __init__(self, session):
        spec = session.spec.training.loss_balancing
        self.session, self.method, self.momentum = session, spec.method, spec.momentum
        self.every = spec.every
        self.adam_steps = session.spec.training.adam.steps
        self.fixed = np.array([t.weight == 0 for t in session.problem.terms])  # switched off in the spec
        self.pde = np.array([t.kind == "pde" for t in session.problem.terms])
        self._compiled: tuple | None = None  # (losses, function): traced anew if the loss is rebuilt

    def after_chunk(self, trainer: Trainer, end: ChunkEnd) -> None:
        step = trainer.step
        if end.record["phase"] == "adam" and step % self.every == 0 and 0 < step < self.adam_steps:
            self.update(trainer)

    def gradients(self, trainer: Trainer) -> np.ndarray:
        """(n_terms, parameters) the global gradient of each term's objective."""
        losses = trainer.losses
        if self._compiled is None or self._compiled[0] is not losses:

            @tf.function
            @tf.autograph.experimental.do_not_convert
            def global_gradients():
                return trainer.comm.allreduce_sum(losses.term_gradients(trainer.params), name="pinnrun_balance")

            self._compiled = (losses, global_gradients)
        return self._compiled[1]().numpy().astype(np.float64)

    def update(self, trainer: Trainer) -> None:
        weights = trainer.losses.weights
        old = weights.numpy().astype(np.float64)
        grads = self.gradients(trainer)
        grads[self.fixed] = 0.0  # a switched-off term neither moves nor counts in the others' sum
        new = balanced(self.method, grads, old, self.pde)
        keep = self.fixed | ~np.isfinite(new)
        new = np.where(keep, old, np.minimum(new, MAX_LOSS_WEIGHT))
        weights.assign(np.where(keep, old, self.momentum * old + (1 - self.momentum) * new))


def balanced(method: str, grads: np.ndarray, weights: np.ndarray, pde: np.ndarray) -> np.ndarray:
    """The new weights the gradients ask for (inf or nan where a term's gradient is 0 or not finite)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "grad_norm":
            norms = np.linalg.norm(grads, axis=1)
            return np.sum(norms) / norms
        pull = np.max(np.abs(weights[pde] @ grads[pde])) if pde.any() else np.nan
        return np.where(pde, weights, pull / np.mean(np.abs(grads), axis=1))
