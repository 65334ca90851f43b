"""Outputs and chosen derivatives equal at paired points of two boundary parts that are
translates of each other (the left and right ends of a periodic interval, say)."""

from __future__ import annotations

import numpy as np

from pinnrun.problem.regions.pairing import paired_translation
from pinnrun.problem.terms.base import Batch, Draw, Setting, Term, TermError, draw_on


class Periodic(Term):
    kind = "periodic"

    def __init__(self, name: str, cond, setting: Setting):
        super().__init__(name, setting.weights.get(name, 1.0), setting.points[name])
        here = ("conditions", name, "on")
        self.on = tuple(setting.part(here, part) for part in cond.on)
        self.part = self.on[0]  # drawn there; the partners are translates on the second part
        self.offset = paired_translation(setting.domain, *self.on)
        if self.offset is None:
            raise TermError(
                here,
                f"parts '{self.on[0]}' and '{self.on[1]}' are not translates of each other "
                "(periodic pairs opposite faces of an interval, rectangle or box)",
            )
        listed = ("conditions", name, "derivatives")
        derivatives = [setting.derivative(listed + (i,)) for i in range(len(cond.derivatives))]
        self.fields = [*(cond.outputs or setting.outputs), *derivatives]

    @property
    def derivatives(self):
        return frozenset(f for f in self.fields if not isinstance(f, str))

    def sample(self, where: Draw) -> Batch:
        """A point of the first part, then its partner on the second: rows i and n + i pair up."""
        block = self.counted(where)
        first, _ = draw_on(where, self.on[0], block)
        return Batch(np.concatenate([first, first + self.offset]), block, components=len(self.fields), blocks=2)

    def residual(self, env, arrays):
        import tensorflow as tf  # the problem layer loads without TensorFlow (validation stays fast)

        values = tf.concat([env[f] for f in self.fields], axis=1)
        n = tf.shape(values)[0] // 2
        return values[:n] - values[n:]
