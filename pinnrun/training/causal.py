"""Causal weights (Wang, Sankaran & Perdikaris, "Respecting causality is all you need for training
physics-informed neural networks", 2022): a time-dependent residual is trained slice by slice.

The pde term's points fall in `chunks` equal time slices; L_k is slice k's mean squared residual
and the term trains on (1/M) sum_k w_k L_k with w_k = exp(-epsilon sum_{j<k} L_j): a slice counts
only once the slices before it are fitted. With every w_k = 1 this is the plain mean.

Distributed, each rank adds its slice sums to the step's one all-reduce (M more numbers), so
every rank sees the same global L_k; the weights a step trains with come from the previous
step's L_k (the one all-reduce carries the gradient too, so this step's are known only after
it). The weights are training state; L-BFGS minimises the plain loss (`active` off): its line
search needs one objective. Slice sums are normalised by the term's global points / M, the
slice's expected count: quasi-random points fill the slices evenly.
"""

from __future__ import annotations

import tensorflow as tf


class CausalWeights(tf.Module):
    def __init__(
        self, term: str, time_index: int, time_domain: tuple[float, float], chunks: int, epsilon: float, dtype
    ):
        super().__init__(name="causal")
        self.term, self.time_index, self.chunks, self.epsilon = term, time_index, chunks, epsilon
        self.t0, self.inv_width = float(time_domain[0]), chunks / float(time_domain[1] - time_domain[0])
        self.weights = tf.Variable(tf.ones(chunks, dtype), trainable=False, name="causal_weights")
        self.active = tf.Variable(True, trainable=False, name="causal_active")

    def slice_shares(self, squares: tf.Tensor, t: tf.Tensor, scale) -> tf.Tensor:
        """(M,) this rank's share of each slice's mean: M x scale x the slice's sum of squares
        (`squares` (n, components) masked, `t` (n, 1), `scale` 1 / (global points x components))."""
        ids = tf.clip_by_value(tf.cast(tf.floor((t[:, 0] - self.t0) * self.inv_width), tf.int32), 0, self.chunks - 1)
        sums = tf.math.unsorted_segment_sum(tf.reduce_sum(squares, axis=1), ids, self.chunks)
        return sums * (self.chunks * scale)

    def objective(self, slices: tf.Tensor) -> tf.Tensor:
        """What the term trains on: (1/M) sum_k w_k L_k, or the plain mean when inactive."""
        w = tf.where(self.active, self.weights, tf.ones_like(self.weights))
        return tf.reduce_sum(tf.stop_gradient(w) * slices) / self.chunks

    def observe(self, slices: tf.Tensor) -> None:
        """The weights of the next step, from this step's global slice losses."""
        before = tf.math.cumsum(slices, exclusive=True)
        self.weights.assign(tf.exp(-self.epsilon * before))
