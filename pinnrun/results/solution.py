"""The network's solution on the reference grid: predictions, and their L2
relative error while training (rank 0, at log points) and at the end."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from pinnrun.problem.reference import ReferenceGrid, build_reference, grid_axes, relative_l2

ERROR_BUDGET = 0.02  # share of the training time the error curve may cost


class Solution:
    def __init__(self, problem, reference_spec, spec_dir: Path, net):
        self._args = problem, reference_spec, spec_dir
        self.outputs, self.net = problem.outputs, net
        self._grid = None
        self._next = 0.0  # when the error curve may next be evaluated

    @property
    def grid(self) -> ReferenceGrid:
        """Built on first use: a costly reference (Cole-Hopf) does not delay the first step."""
        if self._grid is None:
            problem, ref, spec_dir = self._args
            # Without a reference, predictions still go on the default grid (no error to report).
            self._grid = build_reference(problem, ref, spec_dir) if ref else ReferenceGrid(grid_axes(problem, {}), {})
            points = tf.constant(self._grid.points(), self.net.dtype)
            self._forward = tf.function(lambda: self.net(points), autograph=False)
        return self._grid

    def predict(self) -> dict[str, np.ndarray]:
        shape = self.grid.shape
        out = self._forward().numpy().astype(np.float64)
        return {name: out[:, i].reshape(shape) for i, name in enumerate(self.outputs)}

    def error(self) -> float | None:
        return relative_l2(self.predict(), self.grid) if self.grid.values else None

    def error_curve_point(self) -> float | None:
        """The error now, unless evaluating it so often would cost more than ERROR_BUDGET
        of the time (a large grid and a log every step): then None."""
        now = time.perf_counter()
        if now < self._next:
            return None
        error = self.error()
        self._next = now + (time.perf_counter() - now) / ERROR_BUDGET
        return error

    def save(self, path: Path) -> float | None:
        """predictions.npz (axes, predictions, references); returns the L2 relative error."""
        pred = self.predict()
        np.savez(path, **self.grid.axes, **pred,
                 **{f"{name}_reference": values for name, values in self.grid.values.items()})
        return relative_l2(pred, self.grid) if self.grid.values else None
