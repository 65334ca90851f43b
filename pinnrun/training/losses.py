"""Per-term loss contributions of one rank's shard.

Each rank returns sum(r^2) * size / total for every term. Averaged over
ranks (the all-reduce) that is sum over all ranks' points / total: the exact
global mean, also when strong-scaling blocks are unequal or empty.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from pinnrun.model.derivatives import evaluate_fields
from pinnrun.problem.problem import Problem
from pinnrun.sampling.collocation import TermPoints


class LossTerms:
    def __init__(self, problem: Problem, points: dict[str, TermPoints], net, size: int):
        self.problem, self.net = problem, net
        dtype = net.dtype
        self.names = [t.name for t in problem.terms]
        self.weights = tf.constant([t.weight for t in problem.terms], dtype)
        self._data = []
        for term in problem.terms:
            p = points[term.name]
            columns = [tf.constant(p.x[:, i:i + 1], dtype) for i in range(p.x.shape[1])]
            extra = {
                "target": None if p.target is None else tf.constant(p.target, dtype),
                "normals": None if p.normals is None else tf.constant(p.normals, dtype),
            }
            scale = size / p.shard.total
            self._data.append((term, columns, extra, scale, problem.derivatives_of(term)))

    def __call__(self) -> tf.Tensor:
        """(n_terms,) this rank's contributions; all-reduce-average them for the global means."""
        out = []
        for term, columns, extra, scale, derivs in self._data:
            r = self._residual(term, columns, extra, derivs)
            out.append(tf.reduce_sum(tf.square(r)) * scale)
        return tf.stack(out)

    def _residual(self, term, columns, extra, derivs) -> tf.Tensor:
        pb = self.problem
        fields = evaluate_fields(self.net, columns, pb.inputs, pb.outputs, derivs)
        if term.kind == "pde":
            env = dict(zip(pb.inputs, columns)) | fields | pb.constants
            r = term.expression.evaluate(env, backend="tf")
            return r + tf.zeros_like(columns[0])  # a residual may fold to a constant
        if term.kind == "neumann":
            normals = extra["normals"]
            du_dn = tf.add_n([normals[:, i:i + 1] * fields[d] for i, d in enumerate(
                sorted(derivs, key=lambda d: pb.inputs.index(d.wrt[0])))])
            return du_dn - extra["target"]
        return fields[term.output] - extra["target"]


def flatten(tensors) -> tf.Tensor:
    return tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)


def unflatten(flat: tf.Tensor, like) -> list[tf.Tensor]:
    sizes = [int(np.prod(v.shape)) for v in like]
    return [tf.reshape(part, v.shape) for part, v in zip(tf.split(flat, sizes), like)]
