"""Input embeddings: what the first layer reads in place of the inputs rescaled to [-1, 1].

- Fourier features (Tancik et al. 2020; Wang, Wang & Perdikaris 2021): [cos(2 pi x B), sin(2 pi x B)]
  with B fixed, drawn N(0, scale^2). An MLP learns high frequencies slowly (spectral bias); these
  hand them to it, at the frequencies `scale` sets.
- Periodic inputs (Dong & Ni 2021): x -> cos and sin of 2 pi k (x - lo) / P, k = 1..harmonics. The
  network is then a function of these alone, so its output and every derivative are exactly
  P-periodic in x: no loss term has to teach it.

Fourier features embed the non-periodic inputs; the periodic embeddings are concatenated after them.
Both are constants, never trained: nothing goes into a checkpoint, and a resumed run (or another
rank) rebuilds the same B from training.seed.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

# B's random stream is SeedSequence([seed, this]): independent of the weights' default_rng(seed),
# so adding Fourier features leaves the weights' draws as they were.
FOURIER_STREAM = 0x464F5552  # "FOUR"


def fourier_matrix(seed: int, rows: int, features: int, scale: float) -> np.ndarray:
    """B, (rows, features), N(0, scale^2): the same on every rank and on resume."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, FOURIER_STREAM]))
    return rng.normal(0.0, scale, (rows, features))


class Embedding(tf.Module):
    """Maps the rescaled inputs x̂ = 2 (x - centre) / (hi - lo) in [-1, 1] to the first layer's input.
    `periodic`: input index -> (period, harmonics); its phase 2 pi k (x - lo) / P is computed from
    x̂ as pi k (x̂ + 1) (hi - lo) / P, the same value. `fourier`: B for the other inputs, or None
    (they are passed on as they are)."""

    def __init__(self, box, periodic: dict[int, tuple[float, int]], fourier: np.ndarray | None, dtype):
        super().__init__(name="embedding")
        widths = [hi - lo for lo, hi in np.array(box, dtype=np.float64)]
        self.dtype = tf.as_dtype(dtype)
        self.rest = [i for i in range(len(widths)) if i not in periodic]
        if fourier is not None and fourier.shape[0] != len(self.rest):
            raise ValueError(f"B has {fourier.shape[0]} rows for {len(self.rest)} non-periodic inputs")
        self.b = None if fourier is None else tf.constant(2 * math.pi * fourier, self.dtype)
        # per periodic input, its angular frequencies per unit of x̂ + 1: (1, harmonics)
        self.periodic = [
            (i, tf.constant(math.pi * np.arange(1, k + 1)[None, :] * widths[i] / period, self.dtype))
            for i, (period, k) in sorted(periodic.items())
        ]
        rest = len(self.rest) if fourier is None else 2 * fourier.shape[1]
        self.width = rest + sum(2 * int(w.shape[1]) for _, w in self.periodic)

    def __call__(self, h: tf.Tensor) -> tf.Tensor:
        parts = []
        if self.rest:
            x = h if not self.periodic else tf.gather(h, self.rest, axis=1)
            if self.b is not None:
                z = tf.matmul(x, self.b)
                parts += [tf.cos(z), tf.sin(z)]
            else:
                parts.append(x)
        for i, omega in self.periodic:
            phase = (h[:, i : i + 1] + 1) * omega
            parts += [tf.cos(phase), tf.sin(phase)]
        return tf.concat(parts, axis=1)


def build_embedding(spec_network, inputs: tuple[str, ...], box, seed: int) -> Embedding | None:
    """The embedding `network.fourier_features` and `network.periodic` ask for; None for neither.
    A periodic input's period defaults to the box's width along it."""
    fourier, periodic = spec_network.fourier_features, spec_network.periodic
    if fourier is None and not periodic:
        return None
    index = {name: i for i, name in enumerate(inputs)}
    periods = {
        index[name]: (p.period if p.period is not None else box[index[name]][1] - box[index[name]][0], p.harmonics)
        for name, p in periodic.items()
    }
    rest = len(inputs) - len(periods)
    b = fourier_matrix(seed, rest, fourier.features, fourier.scale) if fourier is not None and rest else None
    return Embedding(box, periods, b, spec_network.dtype)
