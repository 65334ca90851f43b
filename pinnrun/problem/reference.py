"""The reference solution, for errors and predictions.

Three sources, as the spec says: an exact expression (evaluated on a grid),
a data file (.npz, .csv or .mat; see `reference_layout`), or Burgers'
Cole-Hopf solution computed from the problem's own initial condition.

A data file is GRIDDED (one 1-D axis per input, each output an array of shape
[len(axis) for axis in inputs], indexed in input order, or in another order when
the axes' lengths all differ, as MATLAB's u(t, x)) or SCATTERED (every array
holds the same n values: n points). A .csv is always scattered.

Errors count only points inside the problem's domain: on an L-shape the grid
of its bounding box has points outside, where the network was never trained.

A derived quantity (|h| = sqrt(u**2 + v**2)) is compared where the reference gives it (an exact
expression, a file's array), else where it can be computed from the reference's outputs: when it
uses no derivatives and no trained parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pinnrun.problem.cole_hopf import burgers_cole_hopf
from pinnrun.spec.expressions import Expression
from pinnrun.spec.schema import DEFAULT_POINTS, DEFAULT_TIME_POINTS, Reference


@dataclass(frozen=True)
class ReferenceGrid:
    """Reference values at points: a grid (`axes` are 1-D axes) or scattered (`axes` are the
    points' coordinates, one value per point each)."""

    axes: dict[str, np.ndarray]  # input name -> 1-D grid axis, or 1-D coordinates when scattered
    values: dict[str, np.ndarray]  # output (or derived quantity) name -> array of `shape`
    scattered: bool = False
    inside: np.ndarray | None = None  # bool array of `shape`: the point lies in the domain (None: all do)

    @property
    def shape(self) -> tuple[int, ...]:
        if self.scattered:
            return (len(next(iter(self.axes.values()))),)
        return tuple(len(a) for a in self.axes.values())

    def points(self) -> np.ndarray:
        """All points as rows (n, n_inputs); a grid in 'ij' order."""
        if self.scattered:
            return np.stack(list(self.axes.values()), axis=1)
        mesh = np.meshgrid(*self.axes.values(), indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)

    def coordinates(self) -> dict[str, np.ndarray]:
        """Input name -> its value at every point, as an array of `shape`."""
        if self.scattered:
            return dict(self.axes)
        return dict(zip(self.axes, np.meshgrid(*self.axes.values(), indexing="ij")))

    def mask(self) -> np.ndarray:
        """The points that count, as a bool array of `shape`."""
        return np.ones(self.shape, dtype=bool) if self.inside is None else self.inside


def relative_l2(prediction: dict[str, np.ndarray], reference: ReferenceGrid) -> float:
    """||pred - ref|| / ||ref|| over every output the reference has, at the points inside the domain."""
    inside = reference.mask()
    pred = np.concatenate([np.asarray(prediction[k])[inside] for k in reference.values])
    ref = np.concatenate([v[inside] for v in reference.values.values()])
    return _ratio(pred, ref)


def relative_l2_per_output(prediction: dict[str, np.ndarray], reference: ReferenceGrid) -> dict[str, float]:
    """The same, for each output alone (a small u can hide a wrong v in the combined error)."""
    inside = reference.mask()
    return {k: _ratio(np.asarray(prediction[k])[inside], v[inside]) for k, v in reference.values.items()}


def _ratio(pred: np.ndarray, ref: np.ndarray) -> float:
    norm = np.linalg.norm(ref)
    if norm == 0:  # a zero reference: no relative error is defined
        return float("nan")
    return float(np.linalg.norm(pred - ref) / norm)


def grid_axes(problem, counts: dict[str, int]) -> dict[str, np.ndarray]:
    """Evenly spaced axes over the domain's bounding box; `counts` overrides the default point counts."""
    axes = {}
    for name, (lo, hi) in zip(problem.inputs, problem.input_box):
        default = DEFAULT_TIME_POINTS if name == problem.time else DEFAULT_POINTS[len(problem.space)]
        axes[name] = np.linspace(lo, hi, counts.get(name, default))
    return axes


def default_grid(problem) -> ReferenceGrid:
    """Where predictions go without a reference (no error to report)."""
    return with_domain(problem, ReferenceGrid(grid_axes(problem, {}), {}))


def build_reference(problem, ref: Reference, spec_dir: Path) -> ReferenceGrid:
    return with_domain(problem, with_derived(problem, _source(problem, ref, spec_dir)))


def _source(problem, ref: Reference, spec_dir: Path) -> ReferenceGrid:
    """What the reference itself gives: outputs, and derived quantities it names."""
    if ref.file is not None:
        return _from_file(problem, spec_dir / ref.file, ref.columns)
    axes = grid_axes(problem, ref.grid)
    if ref.cole_hopf is not None:
        return ReferenceGrid(axes, {problem.outputs[0]: _cole_hopf(problem, ref, axes)})
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    env = dict(zip(problem.inputs, mesh)) | problem.constants
    values = {}
    with np.errstate(all="ignore"):  # outside a non-box domain an expression may be undefined; never counted
        for out, expr in exact_expressions(problem, ref).items():
            value = expr.evaluate(env)
            values[out] = np.broadcast_to(np.asarray(value, dtype=np.float64), mesh[0].shape).copy()
    return ReferenceGrid(axes, values)


def computable_from_outputs(problem, expr: Expression) -> bool:
    """A derived quantity that the reference's outputs give: no derivatives (the reference has
    values, not a differentiable field) and no trained parameter (the reference is the truth)."""
    return not expr.derivatives and expr.constants <= set(problem.constants)


def with_derived(problem, grid: ReferenceGrid) -> ReferenceGrid:
    """The grid with each derived quantity it lacks but can compute from its outputs (numpy, float64)."""
    values = dict(grid.values)
    for name, expr in problem.derived.items():
        if name in values or not computable_from_outputs(problem, expr) or not expr.outputs <= set(values):
            continue
        env = grid.coordinates() | {out: values[out] for out in expr.outputs} | problem.constants
        with np.errstate(all="ignore"):  # undefined outside the domain is never counted
            value = expr.evaluate(env)
        values[name] = np.broadcast_to(np.asarray(value, dtype=np.float64), grid.shape).copy()
    return ReferenceGrid(grid.axes, values, grid.scattered, grid.inside)


def with_domain(problem, grid: ReferenceGrid) -> ReferenceGrid:
    """The grid with its `inside` mask from the problem's domain (a box contains every grid point)."""
    inside = np.asarray(problem.domain.contains(grid.points()), dtype=bool).reshape(grid.shape)
    return ReferenceGrid(grid.axes, grid.values, grid.scattered, inside)


# -- parsed expressions ------------------------------------------------------------------
# Validation parses every expression once (problem.expressions, by spec path); the reference
# uses those parsed forms.


def exact_expressions(problem, ref: Reference) -> dict[str, Expression]:
    """Output (or derived quantity) -> its exact solution."""
    if not isinstance(ref.exact, dict):
        return {problem.outputs[0]: problem.expressions[("reference", "exact")]}
    return {out: problem.expressions[("reference", "exact", out)] for out in ref.exact}


def cole_hopf_viscosity(problem, ref: Reference) -> float:
    return float(problem.expressions[("reference", "cole_hopf", "viscosity")].evaluate(problem.constants))


def cole_hopf_initial(problem, ref: Reference) -> tuple[Expression, tuple]:
    """u(x, t0) and the spec path it comes from: the reference's own, else the initial condition's."""
    if "initial" in ref.cole_hopf:
        here = ("reference", "cole_hopf", "initial")
    else:
        term = next(t for t in problem.terms if t.kind == "initial" and isinstance(t.field, str))  # u, not u_t
        here = ("conditions", term.name, "value")
    return problem.expressions[here], here


# -- Cole-Hopf ------------------------------------------------------------------------------


def _cole_hopf(problem, ref: Reference, axes: dict[str, np.ndarray]) -> np.ndarray:
    viscosity, (initial, _) = cole_hopf_viscosity(problem, ref), cole_hopf_initial(problem, ref)
    (x,), t0 = problem.space, problem.time_domain[0]
    ((lo, hi),) = problem.box
    u0 = centred_initial(initial, x, problem.time, t0, problem.constants, (lo + hi) / 2)
    # the solver works on [-L/2, L/2): shift x there (the equation is translation invariant)
    return burgers_cole_hopf(u0, viscosity, axes[x] - (lo + hi) / 2, axes[problem.time] - t0, period=hi - lo)


def centred_initial(initial, x: str, t: str, t0: float, constants: dict, centre: float):
    """u0 as a function of x - centre, for the Cole-Hopf solver."""

    def u0(xs: np.ndarray) -> np.ndarray:
        env = {x: xs + centre, t: np.full_like(xs, t0)} | constants
        return np.broadcast_to(np.asarray(initial.evaluate(env), dtype=np.float64), xs.shape)

    return u0


# -- data files -----------------------------------------------------------------------------


def reference_layout(arrays: dict[str, np.ndarray], inputs, outputs, names: dict[str, str], csv: bool) -> ReferenceGrid:
    """Gridded or scattered, from the arrays' shapes; a ValueError (one line) if neither.

    `names` maps our names to the file's, for messages."""
    from pinnrun.problem.tabular import TableRefused

    sizes = {k: arrays[k].size for k in (*inputs, *outputs)}
    grid = tuple(sizes[k] for k in inputs)
    on_grid = {out: _in_input_order(arrays[out], grid) for out in outputs}
    if not csv and all(v is not None for v in on_grid.values()):
        return ReferenceGrid({k: arrays[k].ravel() for k in inputs}, on_grid)
    if len(set(sizes.values())) == 1:
        return ReferenceGrid(
            {k: arrays[k].ravel() for k in inputs}, {out: arrays[out].ravel() for out in outputs}, scattered=True
        )
    out = next(o for o in outputs if on_grid[o] is None)
    axes = ", ".join(f"{k} ({names[k]})" if names[k] != k else k for k in inputs)
    raise TableRefused(
        f"array '{names[out]}' has shape {arrays[out].shape}, expected {grid} "
        f"(one axis per input: {axes}) or {sizes[inputs[0]]:,} values, "
        "one per point like every input array"
    )


def _in_input_order(values: np.ndarray, grid: tuple[int, ...]) -> np.ndarray | None:
    """An output on the grid with its axes in input order, or None if it is not on the grid.

    MATLAB files often store u(t, x) for inputs (x, t): axes in another order are put back
    when the axes' lengths tell them apart (all different); equal lengths must be in input order."""
    if values.shape == grid:
        return values
    if values.ndim != len(grid) or sorted(values.shape) != sorted(grid) or len(set(grid)) != len(grid):
        return None
    return np.transpose(values, [values.shape.index(n) for n in grid])


def read_reference_file(path: Path, inputs, outputs, columns: dict[str, str], cap: int, derived=()) -> ReferenceGrid:
    """The file's arrays in their layout; TableRefused (one line, no file name) if wrong.

    Every input and output must be there; a derived quantity only when `columns` names its array,
    else it is taken when the file has an array of its own name."""
    from pinnrun.problem.tabular import read_arrays

    given = [d for d in derived if d in columns or _holds(path, d, cap)]
    names = {k: columns.get(k, k) for k in (*inputs, *outputs, *given)}
    arrays = read_arrays(path, names, cap)
    return reference_layout(arrays, list(inputs), [*outputs, *given], names, Path(path).suffix.lower() == ".csv")


def _holds(path: Path, name: str, cap: int) -> bool:
    """Whether the file has an array `name`; any other refusal is left to the whole read to report."""
    from pinnrun.problem.tabular import TableRefused, read_arrays

    try:
        read_arrays(path, {name: name}, cap)
    except TableRefused as err:
        return not str(err).startswith("lacks ")  # the readers' one wording for a missing array
    return True


def _from_file(problem, path: Path, columns: dict[str, str] | None = None) -> ReferenceGrid:
    from pinnrun.errors import PinnrunError
    from pinnrun.problem.tabular import TableRefused
    from pinnrun.spec.limits import MAX_REFERENCE_BYTES

    try:
        return read_reference_file(
            path, problem.inputs, problem.outputs, columns or {}, MAX_REFERENCE_BYTES, list(problem.derived)
        )
    except TableRefused as err:
        raise PinnrunError(f"{path}: reference file: {err}") from None
