"""A trained model: the network and unknown parameters of a run folder as its newest checkpoint
holds them (the final state of a finished run), or of a session trained in this process.

`predict` evaluates outputs, derivatives, derived quantities or expressions of them at any points
(results/quantities.py); `l2_errors` compares with the spec's reference as training did."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from pinnrun.errors import PinnrunError
from pinnrun.model import mlp
from pinnrun.model.parameters import Parameters
from pinnrun.problem.build import build_problem
from pinnrun.results.checkpoints import CheckpointError, latest_checkpoint
from pinnrun.results.quantities import Quantities
from pinnrun.spec.loader import LoadedSpec, load_spec
from pinnrun.results.files import SPEC

MAX_PREDICT_POINTS = 20_000_000  # 20M points x a few columns of float64: a few hundred MB
_AXIS = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*([^:]+):([^:]+):\s*(\d+)\s*$")


class TrainedModel:
    def __init__(self, loaded: LoadedSpec, problem, net, parameters: Parameters, step: int | None = None):
        self.loaded, self.problem, self.net, self.parameters = loaded, problem, net, parameters
        self.step = step  # the training step these variables are from
        self.records: list[dict] = []  # metrics records, when trained in this process (api.train)
        self.log = None  # and its TrainingLog
        self._evaluators: dict[tuple[str, ...], Quantities] = {}

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.problem.inputs

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.problem.outputs

    @property
    def variables(self) -> list:
        """The trained variables: the network's weights, then the unknown parameters' raw values."""
        return [*self.net.params, *self.parameters.params]

    def parameter_values(self) -> dict[str, float]:
        """The unknown parameters as identified (empty for a forward problem)."""
        return self.parameters.numpy()

    def predict(
        self, points: Mapping[str, np.ndarray] | np.ndarray, names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """`names` (default: outputs and derived quantities; any derivative such as u_xx, or an
        expression such as 'u*u_x') at `points`: a mapping input name -> array (all the same shape,
        kept in the result) or an (n, inputs) array in input order."""
        rows, shape = self._rows(points)
        names = tuple(names) if names is not None else (*self.outputs, *self.problem.derived)
        if not names:
            raise PinnrunError("nothing to predict: give at least one output")
        if names not in self._evaluators:
            self._evaluators[names] = Quantities(self.problem, self.net, self.parameters, names)
        return {name: values.reshape(shape) for name, values in self._evaluators[names](rows).items()}

    def l2_errors(self) -> tuple[float | None, dict[str, float]]:
        """(combined, per name) L2 relative error against the spec's reference, on its points
        (None and {} without a reference)."""
        from pinnrun.results.solution import Solution

        s = self.loaded.spec
        return Solution(self.problem, s.reference, self.loaded.path.parent, self.net, self.parameters).errors()

    def _rows(self, points) -> tuple[np.ndarray, tuple[int, ...]]:
        if isinstance(points, Mapping):
            missing = [name for name in self.inputs if name not in points]
            extra = [name for name in points if name not in self.inputs]
            if missing or extra:
                raise PinnrunError(
                    f"points need exactly the inputs {', '.join(self.inputs)}"
                    + (f"; missing {', '.join(missing)}" if missing else "")
                    + (f"; unknown {', '.join(map(str, extra))}" if extra else "")
                )
            try:
                arrays = np.broadcast_arrays(*[np.asarray(points[n], dtype=np.float64) for n in self.inputs])
            except ValueError:
                raise PinnrunError("the inputs' arrays have shapes that do not broadcast together") from None
            shape = arrays[0].shape
            rows = np.stack([a.ravel() for a in arrays], axis=1)
        else:
            rows = np.asarray(points, dtype=np.float64)
            if rows.ndim != 2 or rows.shape[1] != len(self.inputs):
                raise PinnrunError(
                    f"points as an array must be (n, {len(self.inputs)}): one column per input "
                    f"({', '.join(self.inputs)}); got shape {rows.shape}"
                )
            shape = (len(rows),)
        if len(rows) > MAX_PREDICT_POINTS:
            raise PinnrunError(f"{len(rows):,} points; at most {MAX_PREDICT_POINTS:,} at once")
        if not np.isfinite(rows).all():
            raise PinnrunError("points must be finite numbers (found NaN or infinity)")
        return rows, shape


def load_run(run_dir: str | Path) -> TrainedModel:
    """The model of a run folder at its newest checkpoint."""
    run_dir = Path(run_dir)
    spec_path = run_dir / SPEC
    if not spec_path.is_file():
        raise PinnrunError(f"{run_dir}: not a run folder (no spec.yaml)")
    try:
        found = latest_checkpoint(run_dir)
    except CheckpointError as err:
        raise PinnrunError(str(err)) from None
    if found is None:
        raise PinnrunError(f"{run_dir}: no checkpoint: the run stopped before its first one was written")
    model = model_from_spec(load_spec(spec_path))
    trained = [found.arrays.get(f"param/{i}") for i in range(len(model.variables))]
    shapes = [tuple(v.shape) for v in model.variables]
    if any(a is None or a.shape != s for a, s in zip(trained, shapes)) or f"param/{len(shapes)}" in found.arrays:
        raise PinnrunError(f"{found.path}: its variables do not match the run's spec.yaml (was the spec edited?)")
    for variable, value in zip(model.variables, trained):
        variable.assign(value)
    model.step = found.step
    return model


def model_from_spec(loaded: LoadedSpec) -> TrainedModel:
    """The spec's network and parameters as initialised (no points are sampled)."""
    problem = build_problem(loaded)
    s = loaded.spec
    net, parameters = mlp.build_network(s, problem)
    return TrainedModel(loaded, problem, net, parameters)


def parse_grid(text: str, inputs: Sequence[str]) -> dict[str, np.ndarray]:
    """`x=0:1:101,t=0:1:11` -> input name -> evenly spaced axis (both ends included)."""
    axes = {}
    for part in text.split(","):
        m = _AXIS.match(part)
        if not m:
            raise PinnrunError(f"--grid: '{part.strip()}' is not NAME=START:STOP:COUNT (e.g. x=0:1:101)")
        name, lo, hi, count = m.group(1), _number(m.group(2), part), _number(m.group(3), part), int(m.group(4))
        if name not in inputs:
            raise PinnrunError(f"--grid: '{name}' is not an input (inputs: {', '.join(inputs)})")
        if name in axes:
            raise PinnrunError(f"--grid: '{name}' is given twice")
        if not 1 <= count <= MAX_PREDICT_POINTS:
            raise PinnrunError(f"--grid: {name} needs 1 to {MAX_PREDICT_POINTS:,} points, got {count:,}")
        axes[name] = np.linspace(lo, hi, count)
    missing = [name for name in inputs if name not in axes]
    if missing:
        raise PinnrunError(f"--grid: no axis for {', '.join(missing)} (every input needs one: {', '.join(inputs)})")
    total = int(np.prod([len(a) for a in axes.values()], dtype=np.float64))
    if total > MAX_PREDICT_POINTS:
        raise PinnrunError(f"--grid: {total:,} points; at most {MAX_PREDICT_POINTS:,}")
    return {name: axes[name] for name in inputs}


def _number(text: str, part: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PinnrunError(f"--grid: '{text.strip()}' in '{part.strip()}' is not a number") from None
    if not np.isfinite(value):
        raise PinnrunError(f"--grid: '{text.strip()}' in '{part.strip()}' is not finite")
    return value
