"""Per-term loss contributions of one rank's points, and their gradient.

Each rank returns, for every term, sum(r^2) / (global points x components):
its share of the global mean. The all-reduce sums the shares, so the result is
the exact global mean whatever the blocks' sizes (unequal or empty strong-
scaling blocks included) and the collective needs no notion of averaging.

A shard larger than `micro_batch` points is evaluated in micro-batches
(training/micro_batches.py) whose shares and gradients are summed in a loop:
the same loss and gradient as one pass, within rounding, in the memory of one
micro-batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from pinnrun.model.derivatives import evaluate_fields
from pinnrun.problem.problem import Problem
from pinnrun.problem.terms.base import Batch, Term
from pinnrun.spec.memory import micro_batches as count_micro_batches
from pinnrun.training.micro_batches import stack


@dataclass(frozen=True)
class _TermData:
    term: Term
    columns: list        # one (n, 1) tensor per input; (m, rows, 1) when micro-batched
    arrays: dict         # (n, k); (m, rows, k) when micro-batched
    mask: object         # (m, rows, 1) zeros on padding rows, or None
    scale: float         # 1 / (global points x components)


class LossTerms:
    def __init__(self, problem: Problem, batches: dict[str, Batch], net, parameters=None,
                 micro_batch: int | None = None):
        self.problem, self.net, self.parameters = problem, net, parameters
        dtype = net.dtype
        self.names = [t.name for t in problem.terms]
        self.weights = tf.constant([t.weight for t in problem.terms], dtype)
        points = sum(len(batches[t.name].x) // batches[t.name].blocks for t in problem.terms)
        self.micro_batch = micro_batch
        self.micro_batches = count_micro_batches(points, micro_batch)
        self._data = []
        for term in problem.terms:
            batch = batches[term.name]
            scale = 1.0 / max(batch.shard.total * batch.components, 1)
            if self.micro_batches == 1:
                x, arrays, mask = batch.x, batch.arrays, None
            else:
                stacked = stack(batch, self.micro_batches)
                x, arrays, mask = stacked.x, stacked.arrays, stacked.mask
            columns = [tf.constant(x[..., i:i + 1], dtype) for i in range(x.shape[-1])]
            tensors = {key: tf.constant(value, dtype) for key, value in arrays.items()}
            self._data.append(_TermData(term, columns, tensors, None if mask is None else tf.constant(mask, dtype),
                                        scale))

    def batch(self, i=0) -> tf.Tensor:
        """(n_terms,) this rank's shares from micro-batch i (the whole shard when there is one)."""
        pick = (lambda t: t) if self.micro_batches == 1 else (lambda t: tf.gather(t, i))
        pb = self.problem
        shared = dict(pb.constants)
        if self.parameters is not None:
            shared |= self.parameters.values()
        out = []
        for d in self._data:
            columns = [pick(c) for c in d.columns]
            fields = evaluate_fields(self.net, columns, pb.inputs, pb.outputs, d.term.derivatives)
            env = shared | dict(zip(pb.inputs, columns)) | fields
            squares = tf.square(d.term.residual(env, {k: pick(v) for k, v in d.arrays.items()}))
            if d.mask is not None:
                squares = squares * pick(d.mask)
            out.append(tf.reduce_sum(squares) * d.scale)  # every residual involves an output
        return tf.stack(out)

    def __call__(self) -> tf.Tensor:
        """(n_terms,) this rank's shares; all-reduce-sum them for the global means."""
        if self.micro_batches == 1:
            return self.batch()
        return self._sum(lambda i: (self.batch(i),), (tf.zeros_like(self.weights),))[0]

    def value_and_gradient(self, variables) -> tuple[tf.Tensor, tf.Tensor]:
        """(this rank's shares, flat gradient of their weighted sum with respect to `variables`)."""
        def one(i):
            with tf.GradientTape() as tape:
                local = self.batch(i)
                total = tf.reduce_sum(self.weights * local)
            # zero, not None, for a weight no term reaches: an output used only through its
            # derivatives (a stream function) leaves its bias unconnected
            grads = tape.gradient(total, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return local, flatten(grads)
        if self.micro_batches == 1:
            return one(0)
        return self._sum(one, (tf.zeros_like(self.weights), tf.zeros(sum(int(np.prod(v.shape)) for v in variables),
                                                             self.net.dtype)))

    def _sum(self, part, zeros: tuple):
        """Sum of `part(i)` (a tuple of tensors shaped as `zeros`) over the micro-batches, one at a
        time: the body is traced once, and parallel_iterations=1, or TensorFlow may keep several
        micro-batches' tapes alive at once."""
        def body(i, sums):
            return i + 1, tuple(s + p for s, p in zip(sums, part(i)))
        _, sums = tf.while_loop(lambda i, _: i < self.micro_batches, body, (tf.constant(0), zeros),
                                parallel_iterations=1)
        return sums


def flatten(tensors) -> tf.Tensor:
    return tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)


def unflatten(flat: tf.Tensor, like) -> list[tf.Tensor]:
    sizes = [int(np.prod(v.shape)) for v in like]
    return [tf.reshape(part, v.shape) for part, v in zip(tf.split(flat, sizes), like)]
