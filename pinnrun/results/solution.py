"""The network's solution on the reference grid: predictions, and their L2
relative error while training (rank 0, at every log point) and at the end."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from pinnrun.problem.reference import ReferenceGrid, build_reference, grid_axes, relative_l2


class Solution:
    def __init__(self, problem, reference_spec, spec_dir: Path, dtype):
        # Without a reference, predictions still go on the default grid (no error to report).
        self.grid = build_reference(problem, reference_spec, spec_dir) if reference_spec else \
            ReferenceGrid(grid_axes(problem, {}), {})
        self.outputs = problem.outputs
        self._points = tf.constant(self.grid.points(), dtype)

    def predict(self, net) -> dict[str, np.ndarray]:
        out = net(self._points).numpy().astype(np.float64)
        return {name: out[:, i].reshape(self.grid.shape) for i, name in enumerate(self.outputs)}

    def error(self, net) -> float | None:
        return relative_l2(self.predict(net), self.grid) if self.grid.values else None

    def save(self, path: Path, net) -> float | None:
        """predictions.npz (axes, predictions, references); returns the L2 relative error."""
        pred = self.predict(net)
        np.savez(path, **self.grid.axes, **pred,
                 **{f"{name}_reference": values for name, values in self.grid.values.items()})
        return relative_l2(pred, self.grid) if self.grid.values else None
