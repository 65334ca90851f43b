"""Unknown scalars of an inverse problem, trained with the network.

Each is one raw tf.Variable, so it travels in the same fused all-reduce as the
network's gradients and Adam and L-BFGS treat it like a weight. Constraints
are reparameterisations, not clipping: `positive` trains log(p) (equal
relative steps whatever the magnitude, e.g. a diffusivity of 1e-3 or 1e2),
`bounds` trains p = lo + (hi - lo) * sigmoid(raw).
"""

from __future__ import annotations

import math

import tensorflow as tf


class Parameters(tf.Module):
    def __init__(self, specs: dict, dtype):
        super().__init__(name="parameters")
        self.specs, self.dtype = specs, tf.as_dtype(dtype)
        self.names = tuple(specs)
        self.raw = [
            tf.Variable(raw_initial(spec), dtype=self.dtype, name=f"param_{name}") for name, spec in specs.items()
        ]

    @property
    def params(self) -> list[tf.Variable]:
        return self.raw

    def values(self) -> dict[str, tf.Tensor]:
        """name -> the parameter's value as a scalar tensor (differentiable in its raw variable)."""
        return {name: value_of(spec, raw) for (name, spec), raw in zip(self.specs.items(), self.raw)}

    def numpy(self) -> dict[str, float]:
        return {name: float(v.numpy()) for name, v in self.values().items()}

    def report(self) -> dict[str, dict]:
        """summary.json's view: initial, identified and (when known) true value and relative error."""
        out = {}
        for name, value in self.numpy().items():
            spec = self.specs[name]
            true = spec.true_value
            error = abs(value - true) / abs(true) if true not in (None, 0) else (abs(value) if true == 0 else None)
            out[name] = {"initial": spec.initial, "value": value, "true_value": true, "relative_error": error}
        return out


def raw_initial(spec) -> float:
    if spec.positive:
        return math.log(spec.initial)
    if spec.bounds is not None:
        lo, hi = spec.bounds
        s = (spec.initial - lo) / (hi - lo)
        return math.log(s / (1 - s))
    return spec.initial


def value_of(spec, raw):
    if spec.positive:
        return tf.exp(raw)
    if spec.bounds is not None:
        lo, hi = spec.bounds
        return lo + (hi - lo) * tf.sigmoid(raw)
    return tf.identity(raw)
