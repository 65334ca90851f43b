"""The network's solution at the reference's points (a grid, or scattered points):
predictions of the outputs and derived quantities, and their L2 relative errors (combined
and per name, counted inside the domain) while training (rank 0, at log points) and at the end."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pinnrun.problem.reference import ReferenceGrid, build_reference, default_grid, relative_l2, relative_l2_per_output
from pinnrun.results.quantities import Quantities

ERROR_BUDGET = 0.02  # share of the training time the error curve may cost


class Solution:
    def __init__(self, problem, reference_spec, spec_dir: Path, net, parameters=None):
        """`parameters` (model.parameters.Parameters): their current values, where a derived
        quantity uses one."""
        self._args = problem, reference_spec, spec_dir
        self.problem, self.net, self.parameters = problem, net, parameters
        self.names = (*problem.outputs, *problem.derived)  # the columns of every prediction
        self._grid = None
        self._quantities = None
        self._next = 0.0  # when the error curve may next be evaluated

    @property
    def grid(self) -> ReferenceGrid:
        """Built on first use: a costly reference (Cole-Hopf) does not delay the first step."""
        if self._grid is None:
            problem, ref, spec_dir = self._args
            # Without a reference, predictions still go on the default grid (no error to report).
            self._grid = build_reference(problem, ref, spec_dir) if ref else default_grid(problem)
            self._points = self._grid.points()
            self._quantities = Quantities(problem, self.net, self.parameters, self.names)
        return self._grid

    def predict(self) -> dict[str, np.ndarray]:
        shape = self.grid.shape
        return {name: values.reshape(shape) for name, values in self._quantities(self._points).items()}

    def errors(self) -> tuple[float | None, dict[str, float]]:
        """The combined L2 relative error and each compared name's (None and {} without a reference)."""
        return self._errors(self.predict())

    def error(self) -> float | None:
        return self.errors()[0]

    def _errors(self, pred: dict[str, np.ndarray]) -> tuple[float | None, dict[str, float]]:
        if not self.grid.values:
            return None, {}
        return relative_l2(pred, self.grid), relative_l2_per_output(pred, self.grid)

    def error_curve_fields(self) -> dict:
        """metrics.jsonl's error fields now: l2_relative_error and l2_relative_errors (output ->
        error), both None where evaluating them so often would cost more than ERROR_BUDGET of the
        time (a large grid and a log every step)."""
        now = time.perf_counter()
        if now < self._next:
            return {"l2_relative_error": None, "l2_relative_errors": {k: None for k in self.grid.values}}
        combined, per_output = self.errors()
        self._next = now + (time.perf_counter() - now) / ERROR_BUDGET
        return {"l2_relative_error": combined, "l2_relative_errors": per_output}

    def save(self, path: Path) -> tuple[float | None, dict[str, float]]:
        """predictions.npz: the inputs' axes (a grid) or coordinates (scattered), each output's and
        derived quantity's prediction and reference (<name>_reference, where compared), inside_domain
        (bool: the points in the domain, which the errors count) and is_scattered. Names with '_' never
        clash with a spec's names. Returns the combined and per-name errors."""
        pred = self.predict()
        grid = self.grid
        np.savez(
            path,
            **grid.axes,
            **pred,
            **{f"{name}_reference": values for name, values in grid.values.items()},
            inside_domain=grid.mask(),
            is_scattered=np.array(grid.scattered),
        )
        return self._errors(pred)
