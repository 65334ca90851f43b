"""`pinnrun predict`: a run's trained model at new points, written as .npz or .csv.

Points come from a file (.npz/.csv/.mat with one column per input, named like the inputs) or a
grid (`x=0:1:101,t=0:1:11`). The output file never replaces an existing one (written whole to a
temporary name, then renamed)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from pinnrun.errors import PinnrunError
from pinnrun.problem.tabular import TableRefused, read_points
from pinnrun.results.trained import load_run, parse_grid
from pinnrun.spec.limits import MAX_REFERENCE_BYTES

SUFFIXES = (".npz", ".csv")


def run_predict(run_dir: str, points_file: str | None, grid: str | None, names: str | None, out: str, echo) -> int:
    target = _check_out(out)
    if (points_file is None) == (grid is None):
        raise PinnrunError("give the points with exactly one of --points FILE or --grid x=0:1:101,...")
    model = load_run(run_dir)
    wanted = parse_names(names) if names else None
    if grid is not None:
        axes = parse_grid(grid, model.inputs)
        mesh = dict(zip(axes, np.meshgrid(*axes.values(), indexing="ij")))
        values = model.predict(mesh, wanted)
        write(target, axes, values, grid=True)
    else:
        try:
            columns = read_points(points_file, {name: name for name in model.inputs}, MAX_REFERENCE_BYTES)
        except TableRefused as err:
            raise PinnrunError(f"{points_file}: {err}") from None
        values = model.predict(columns, wanted)
        write(target, columns, values, grid=False)
    count = next(iter(values.values())).size
    echo(f"{count:,} points, {', '.join(values)} (step {model.step} of {run_dir}) -> {target}")
    return 0


def write(path: Path, coordinates: dict, values: dict, grid: bool) -> None:
    """.npz: the inputs (1-D axes of a grid, 'ij' order, or one coordinate per point) and each
    name's values; .csv: one row per point, the inputs then the names."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if path.suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez(f, **coordinates, **values)
        else:
            if grid:
                coordinates = dict(zip(coordinates, np.meshgrid(*coordinates.values(), indexing="ij")))
            columns = {**coordinates, **values}
            with open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(columns)
                writer.writerows(zip(*[np.ravel(c).tolist() for c in columns.values()]))
        if path.exists():  # made while this ran: keep it
            raise PinnrunError(f"--out {path}: exists; choose another file")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check_out(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() not in SUFFIXES:
        raise PinnrunError(f"--out {out}: write .npz or .csv")
    if path.exists():
        raise PinnrunError(f"--out {out}: exists; choose another file (nothing is overwritten)")
    if not path.parent.is_dir():
        raise PinnrunError(f"--out {out}: no folder {path.parent}")
    return path.with_suffix(path.suffix.lower())


def parse_names(text: str) -> list[str]:
    """--outputs u,u_x,atan2(v, u) -> ['u', 'u_x', 'atan2(v, u)']: commas inside brackets belong to
    the expression."""
    names, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            names.append(text[start:i].strip())
            start = i + 1
    names = [*names, text[start:].strip()]
    if not all(names):
        raise PinnrunError(f"--outputs: '{text}' has an empty name; give names like u,u_x")
    if len(set(names)) < len(names):
        raise PinnrunError(f"--outputs: '{text}' names one quantity twice")
    return names
