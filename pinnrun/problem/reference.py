"""The reference solution on a grid, for errors and predictions.

Three sources, as the spec says: an exact expression, a .npz data file
(one 1-D array per input variable giving the grid axes, one array per output
on that grid, indexed in input order), or Burgers' Cole-Hopf solution
computed from the problem's own initial condition.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pinnrun.problem.cole_hopf import burgers_cole_hopf
from pinnrun.problem.problem import Problem
from pinnrun.spec.expressions import parse
from pinnrun.spec.schema import Reference

DEFAULT_POINTS = {1: 256, 2: 101, 3: 41}  # per spatial axis, by number of spatial axes
DEFAULT_TIME_POINTS = 101


@dataclass(frozen=True)
class ReferenceGrid:
    axes: dict[str, np.ndarray]     # input name -> 1-D grid axis
    values: dict[str, np.ndarray]   # output name -> array of shape [len(axis) for axis in axes]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes.values())

    def points(self) -> np.ndarray:
        """All grid points as rows (n, n_inputs), in 'ij' order."""
        mesh = np.meshgrid(*self.axes.values(), indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)


def relative_l2(prediction: dict[str, np.ndarray], reference: ReferenceGrid) -> float:
    pred = np.concatenate([np.ravel(prediction[k]) for k in reference.values])
    ref = np.concatenate([np.ravel(v) for v in reference.values.values()])
    return float(np.linalg.norm(pred - ref) / np.linalg.norm(ref))


def grid_axes(problem: Problem, counts: dict[str, int]) -> dict[str, np.ndarray]:
    """Evenly spaced axes over the domain; `counts` overrides the default point counts."""
    axes = {}
    for name, (lo, hi) in zip(problem.inputs, problem.input_box):
        default = DEFAULT_TIME_POINTS if name == problem.time else DEFAULT_POINTS[len(problem.space)]
        axes[name] = np.linspace(lo, hi, counts.get(name, default))
    return axes


def build_reference(problem: Problem, ref: Reference, spec_dir: Path) -> ReferenceGrid:
    if ref.file is not None:
        return _from_file(problem, spec_dir / ref.file)
    axes = grid_axes(problem, ref.grid)
    if ref.cole_hopf is not None:
        return ReferenceGrid(axes, {problem.outputs[0]: _cole_hopf(problem, ref, axes)})
    exact = ref.exact if isinstance(ref.exact, dict) else {problem.outputs[0]: ref.exact}
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    env = dict(zip(problem.inputs, mesh)) | problem.constants
    values = {}
    for out, source in exact.items():
        value = parse(source, variables=problem.inputs, constants=list(problem.constants)).evaluate(env)
        values[out] = np.broadcast_to(np.asarray(value, dtype=np.float64), mesh[0].shape).copy()
    return ReferenceGrid(axes, values)


def _cole_hopf(problem: Problem, ref: Reference, axes: dict[str, np.ndarray]) -> np.ndarray:
    viscosity = parse(ref.cole_hopf["viscosity"], constants=list(problem.constants)).evaluate(problem.constants)
    (x,), t0 = problem.space, problem.time_domain[0]
    if "initial" in ref.cole_hopf:
        initial = parse(ref.cole_hopf["initial"], variables=problem.inputs, constants=list(problem.constants))
    else:
        initial = next(t for t in problem.terms if t.kind == "initial").expression

    (lo, hi), = problem.box
    u0 = centred_initial(initial, x, problem.time, t0, problem.constants, (lo + hi) / 2)
    # the solver works on [-L/2, L/2): shift x there (the equation is translation invariant)
    return burgers_cole_hopf(u0, float(viscosity), axes[x] - (lo + hi) / 2, axes[problem.time] - t0,
                             period=hi - lo)


def centred_initial(initial, x: str, t: str, t0: float, constants: dict, centre: float):
    """u0 as a function of x - centre, for the Cole-Hopf solver."""
    def u0(xs: np.ndarray) -> np.ndarray:
        env = {x: xs + centre, t: np.full_like(xs, t0)} | constants
        return np.broadcast_to(np.asarray(initial.evaluate(env), dtype=np.float64), xs.shape)
    return u0


def _from_file(problem: Problem, path: Path) -> ReferenceGrid:
    from pinnrun.errors import PinnrunError
    from pinnrun.problem.npz import NpzRefused, load_npz
    from pinnrun.spec.limits import MAX_REFERENCE_BYTES

    try:
        data = load_npz(path, [*problem.inputs, *problem.outputs], MAX_REFERENCE_BYTES)
    except NpzRefused as err:
        raise PinnrunError(f"{path}: reference file: {err}") from None
    axes = {k: data[k].ravel() for k in problem.inputs}
    shape = tuple(len(a) for a in axes.values())
    values = {}
    for out in problem.outputs:
        v = data[out]
        if v.shape != shape:
            raise PinnrunError(f"{path}: array '{out}' has shape {v.shape}, expected {shape} "
                               f"(one axis per input: {', '.join(problem.inputs)})")
        values[out] = v
    return ReferenceGrid(axes, values)
