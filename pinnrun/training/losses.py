"""Per-term loss contributions of one rank's points.

Each rank returns, for every term, sum(r^2) / (global points x components):
its share of the global mean. The all-reduce sums the shares, so the result is
the exact global mean whatever the blocks' sizes (unequal or empty strong-
scaling blocks included) and the collective needs no notion of averaging.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from pinnrun.model.derivatives import evaluate_fields
from pinnrun.problem.problem import Problem
from pinnrun.problem.terms.base import Batch


class LossTerms:
    def __init__(self, problem: Problem, batches: dict[str, Batch], net, parameters=None):
        self.problem, self.net, self.parameters = problem, net, parameters
        dtype = net.dtype
        self.names = [t.name for t in problem.terms]
        self.weights = tf.constant([t.weight for t in problem.terms], dtype)
        self._data = []
        for term in problem.terms:
            batch = batches[term.name]
            columns = [tf.constant(batch.x[:, i:i + 1], dtype) for i in range(batch.x.shape[1])]
            arrays = {key: tf.constant(value, dtype) for key, value in batch.arrays.items()}
            scale = 1.0 / max(batch.shard.total * batch.components, 1)
            self._data.append((term, columns, arrays, scale))

    def __call__(self) -> tf.Tensor:
        """(n_terms,) this rank's shares; all-reduce-sum them for the global means."""
        pb = self.problem
        shared = dict(pb.constants)
        if self.parameters is not None:
            shared |= self.parameters.values()
        out = []
        for term, columns, arrays, scale in self._data:
            fields = evaluate_fields(self.net, columns, pb.inputs, pb.outputs, term.derivatives)
            env = shared | dict(zip(pb.inputs, columns)) | fields
            r = term.residual(env, arrays)  # (n, components): every residual involves an output
            out.append(tf.reduce_sum(tf.square(r)) * scale)
        return tf.stack(out)


def flatten(tensors) -> tf.Tensor:
    return tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)


def unflatten(flat: tf.Tensor, like) -> list[tf.Tensor]:
    sizes = [int(np.prod(v.shape)) for v in like]
    return [tf.reshape(part, v.shape) for part, v in zip(tf.split(flat, sizes), like)]
