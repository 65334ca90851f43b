#!/usr/bin/env python
"""A measured experiment, not used by pinnrun: forward (Taylor-mode) derivatives of a plain MLP.

    .venv/bin/python scripts/profile_taylor.py [profile_step.py's arguments]

Runs scripts/profile_step.py with model/derivatives.py's nested gradient tapes replaced by
the propagation below, so the two can be timed interleaved (run profile_step.py alone for
the tapes). Each hidden layer carries its activations a and their derivatives along the
inputs a residual needs, up to second order:
    z = a W + b,   z_i = a_i W,   z_ij = a_ij W
    a' = s(z),     a'_i = s'(z) z_i,   a'_ij = s''(z) z_i z_j + s'(z) z_ij
and the parameter gradient is one reverse pass through that. Measured 2026-12-06 (see
docs/performance.md): +2 to +5 % steps/s on DeepXDE's setting, -9 to -11 % on 3x50 at 32,768 points,
so pinnrun keeps the tapes. Plain MLPs and order <= 2 only; anything else falls back to tapes.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tensorflow as tf  # noqa: E402

from pinnrun.model import derivatives as tapes  # noqa: E402
from pinnrun.model.mlp import MLP  # noqa: E402
from pinnrun.spec.expressions import Derivative  # noqa: E402

MAX_ORDER = 2
ACTIVATION_NAMES = {
    "tanh": tf.tanh,
    "sin": tf.sin,
    "sigmoid": tf.sigmoid,
    "softplus": tf.nn.softplus,
    "swish": tf.nn.silu,
    "gelu": tf.nn.gelu,
}


def _tanh(z):
    s = tf.tanh(z)
    d1 = 1 - s * s
    return s, d1, -2 * s * d1


def _sin(z):
    s = tf.sin(z)
    return s, tf.cos(z), -s


def _sigmoid(z):
    s = tf.sigmoid(z)
    d1 = s * (1 - s)
    return s, d1, d1 * (1 - 2 * s)


def _softplus(z):
    s = tf.sigmoid(z)
    d1 = s * (1 - s)
    return tf.nn.softplus(z), s, d1


def _swish(z):
    s = tf.sigmoid(z)
    d = s * (1 - s)
    return z * s, s + z * d, 2 * d + z * d * (1 - 2 * s)


def _gelu(z):
    # tf.nn.gelu's exact form z * Phi(z): derivative Phi + z phi, second phi (2 - z^2)
    phi = tf.exp(-0.5 * z * z) * 0.3989422804014327
    return tf.nn.gelu(z), 0.5 * (1 + tf.math.erf(z * 0.7071067811865476)) + z * phi, phi * (2 - z * z)


# value, first and second derivative of each activation the spec offers
ACTIVATION_SERIES = {
    "tanh": _tanh,
    "sin": _sin,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "swish": _swish,
    "gelu": _gelu,
}


def taylor_fields(
    net, columns: list[tf.Tensor], inputs: tuple[str, ...], outputs: tuple[str, ...], derivatives: frozenset[Derivative]
) -> dict | None:
    """{output: (n, 1)} and {Derivative: (n, 1)} as model/derivatives.evaluate_fields gives them,
    or None where this propagation does not apply (an output transform, order above 2)."""
    name = next((k for k, f in ACTIVATION_NAMES.items() if f is getattr(net, "activation", None)), None)
    series = ACTIVATION_SERIES.get(name) if isinstance(net, MLP) else None
    if series is None or any(d.order > MAX_ORDER for d in derivatives):
        return None
    index = {name: i for i, name in enumerate(inputs)}
    # mixed partials commute for a smooth net: u_xt and u_tx are one derivative
    keys = {d: tuple(sorted(index[w] for w in d.wrt)) for d in derivatives}
    firsts = sorted({k[:1] for k in keys.values()} | {(i,) for k in keys.values() for i in k})
    seconds = sorted({k for k in keys.values() if len(k) == 2})
    streams = [()] + firsts + seconds  # what each layer carries: values, then each derivative
    n = tf.shape(columns[0])[0]

    # the first layer: inputs scaled to [-1, 1] (centre c, factor s), so d(scaled_i)/dx_i = s_i
    x = tf.concat(columns, axis=1)
    w0, b0 = net.weights[0], net.biases[0]
    z = {(): tf.matmul((x - net.center) * net.inv_half, w0) + b0}
    for key in firsts:
        i = key[0]
        z[key] = tf.broadcast_to(net.inv_half[i] * w0[i : i + 1], [n, w0.shape[1]])
    for key in seconds:
        z[key] = None  # the first layer is affine: zero, left out of the products
    for w, b in zip(net.weights[1:], net.biases[1:]):
        a0, d1, d2 = series(z[()])
        a = {(): a0}
        for key in firsts:
            a[key] = d1 * z[key]
        for i, j in seconds:
            a[(i, j)] = d2 * z[(i,)] * z[(j,)]
            if z[(i, j)] is not None:
                a[(i, j)] += d1 * z[(i, j)]
        z = {k: tf.matmul(a[k], w) for k in streams}
        z[()] = z[()] + b
    fields = {name: z[()][:, i : i + 1] for i, name in enumerate(outputs)}
    for d, key in keys.items():
        fields[d] = z[key][:, outputs.index(d.output) : outputs.index(d.output) + 1]
    return fields


def main() -> None:
    fallback = tapes.evaluate_fields

    def evaluate_fields(net, columns, inputs, outputs, derivatives):
        fields = taylor_fields(net, columns, inputs, outputs, derivatives) if derivatives else None
        return fields if fields is not None else fallback(net, columns, inputs, outputs, derivatives)

    tapes.evaluate_fields = evaluate_fields
    import pinnrun.training.losses as losses

    losses.evaluate_fields = evaluate_fields  # imported by name there
    sys.argv = [str(ROOT / "scripts" / "profile_step.py"), *sys.argv[1:]]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
