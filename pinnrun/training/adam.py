"""Adam on plain tf.Variables, with the learning-rate schedules of the spec.

Our own (a dozen lines) rather than Keras': Keras 3 optimizer variables
break hvd.broadcast_variables, and we need the update inside one graph.
"""

from __future__ import annotations

import math

import tensorflow as tf

from pinnrun.spec.schema import Adam as AdamSpec


class Adam(tf.Module):
    def __init__(self, params, spec: AdamSpec):
        super().__init__(name="adam")
        self.params, self.spec = params, spec
        self.m = [tf.Variable(tf.zeros_like(p)) for p in params]
        self.v = [tf.Variable(tf.zeros_like(p)) for p in params]
        self.step = tf.Variable(0, dtype=tf.int64)

    def learning_rate(self, step: tf.Tensor) -> tf.Tensor:
        """Learning rate at (0-based) step."""
        s, lr0 = self.spec.schedule, self.spec.learning_rate
        k = tf.cast(step, tf.float64)
        if s.kind == "exponential":
            lr = lr0 * tf.pow(_f64(s.decay_rate), k / s.decay_steps)
        elif s.kind == "step":
            lr = lr0 * tf.pow(_f64(s.decay_rate), tf.floor(k / s.decay_steps))
        elif s.kind == "cosine":
            frac = tf.minimum(k / max(self.spec.steps, 1), 1.0)
            lr = lr0 * (s.final_fraction + (1 - s.final_fraction) * 0.5 * (1 + tf.cos(math.pi * frac)))
        else:
            lr = tf.constant(lr0, tf.float64)
        return lr

    @tf.autograph.experimental.do_not_convert  # straight-line code: no autograph tracing cost
    def apply(self, grads) -> tf.Tensor:
        """One update; returns the learning rate used."""
        dtype = self.params[0].dtype
        lr64 = self.learning_rate(self.step)
        self.step.assign_add(1)
        t = tf.cast(self.step, tf.float64)
        b1, b2 = _f64(self.spec.beta1), _f64(self.spec.beta2)
        # bias corrections folded into the step size, as in the Adam paper (sec. 2)
        alpha = tf.cast(lr64 * tf.sqrt(1 - tf.pow(b2, t)) / (1 - tf.pow(b1, t)), dtype)
        eps = tf.cast(self.spec.epsilon * tf.sqrt(1 - tf.pow(b2, t)), dtype)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.assign(self.spec.beta1 * m + (1 - self.spec.beta1) * g)
            v.assign(self.spec.beta2 * v + (1 - self.spec.beta2) * tf.square(g))
            p.assign_sub(alpha * m / (tf.sqrt(v) + eps))
        return lr64


def _f64(x: float) -> tf.Tensor:
    # schedule maths in float64 whatever the model's dtype; cast once at the end
    return tf.constant(x, tf.float64)
