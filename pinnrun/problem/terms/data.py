"""Observed values of outputs and derived quantities at given points (a .npz, .csv or .mat file).

A derived quantity (`u: psi_y`) is observed as its expression of the network's outputs and
derivatives at the observation points, so velocities can constrain a stream function.
The observations are one fixed set: the ranks split it in disjoint blocks
whatever the scaling mode (weak scaling grows the collocation points, never
the data; docs/spec.md).
"""

from __future__ import annotations

import numpy as np

from pinnrun.problem.tabular import TableRefused, read_points
from pinnrun.problem.terms.base import Batch, Draw, Setting, Term, TermError
from pinnrun.sampling.shards import shard
from pinnrun.spec.limits import MAX_REFERENCE_BYTES


class Data(Term):
    kind = "data"
    part = None  # its points are the observations' (never drawn)

    def __init__(self, name: str, cond, setting: Setting):
        here = ("conditions", name, "file")
        path = setting.spec_dir / cond.file
        try:
            columns = read_points(path, dict(cond.columns), MAX_REFERENCE_BYTES)
        except TableRefused as err:
            raise TermError(here, f"{cond.file}: {err}") from None
        except OSError as err:
            raise TermError(here, f"{cond.file}: {err.strerror or err}") from None
        # the residual's columns, in a stable order: outputs, then derived quantities, as the spec lists them
        self.observed = [out for out in setting.outputs if out in cond.columns]
        self.derived = {name: expr for name, expr in setting.derived.items() if name in cond.columns}
        self.observed += list(self.derived)
        self.x = np.stack([columns[v] for v in setting.inputs], axis=1)
        self.values = np.stack([columns[out] for out in self.observed], axis=1)
        inside = setting.domain.contains(self.x)
        if not inside.all():
            i = int(np.flatnonzero(~inside)[0])
            at = ", ".join(f"{v}={self.x[i, k]:.6g}" for k, v in enumerate(setting.inputs))
            raise TermError(
                here,
                f"{cond.file}: {int((~inside).sum())} observation(s) lie outside the domain (first: row {i + 1}, {at})",
            )
        super().__init__(name, setting.weights.get(name, 1.0), len(self.x))

    @property
    def expressions(self):
        """The observed derived quantities' expressions (probed at the observations)."""
        return {("derived", name): expr for name, expr in self.derived.items()}

    @property
    def derivatives(self):
        return frozenset().union(*(expr.derivatives for expr in self.derived.values()))

    def sample(self, where: Draw) -> Batch:
        block = shard(self.points, where.rank, where.size, "strong")
        rows = slice(block.start, block.start + block.count)
        return Batch(self.x[rows].copy(), block, {"observed": self.values[rows].copy()}, components=len(self.observed))

    def residual(self, env, arrays):
        import tensorflow as tf  # the problem layer loads without TensorFlow (validation stays fast)

        predicted = tf.concat(
            [
                self.derived[name].evaluate(env, backend="tf") if name in self.derived else env[name]
                for name in self.observed
            ],
            axis=1,
        )
        return predicted - arrays["observed"]
