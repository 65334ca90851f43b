"""`pinnrun inspect PATH`: one run, or every run under a parent folder (a scaling study included)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from pinnrun.errors import PinnrunError
from pinnrun.inspect.describe import broken_run, describe_run
from pinnrun.inspect.read import MARKERS, is_run_dir, read_run, short_reason


def inspect(paths: list[str], plot: bool, as_json: bool, sort: str, console: Console, out: str | None = None) -> int:
    """One run, every run under a parent folder, or (several paths) those runs side by side."""
    if len(paths) > 1:
        return _several([Path(p) for p in paths], plot, as_json, sort, console, out)
    if out is not None:
        raise PinnrunError("--out is for the overlay plot of several runs (inspect RUN_A RUN_B ... --plot)")
    path = paths[0]
    folder = Path(path)
    if not folder.exists():
        raise PinnrunError(f"{path}: no such file or folder")
    if not folder.is_dir():
        raise PinnrunError(f"{path}: not a run folder (a file; a run folder holds {', '.join(MARKERS)})")
    if is_run_dir(folder):
        content = _run(folder, plot)
        if as_json:
            _print_json(content)
        else:
            from pinnrun.inspect.view import run_view

            console.print(run_view(content))
        return 0
    return _parent(folder, plot, as_json, sort, console)


def _run(folder: Path, plot: bool) -> dict:
    """One run's content; a folder that cannot be described is a `broken` run, never an exception."""
    try:
        files = read_run(folder)
        content = describe_run(files, time.time())
    except Exception as err:  # noqa: BLE001 - a damaged folder read.py did not foresee: say so, go on
        return broken_run(folder, f"cannot be read ({type(err).__name__}: {short_reason(err)})")
    if plot:
        try:
            from pinnrun.inspect.plots import write_plots

            content["plots"], notes = write_plots(files, content)
        except Exception as err:  # noqa: BLE001 - odd values in the files: no plot, and why
            content["plots"], notes = [], [f"no plots ({type(err).__name__}: {short_reason(err)})"]
        content["notes"] += notes
    return content


def _parent(folder: Path, plot: bool, as_json: bool, sort: str, console: Console) -> int:
    from pinnrun.inspect.compare import find_runs, runs_table, sort_runs
    from pinnrun.inspect.study import read_study, study_view
    from pinnrun.inspect.wide import print_wide

    study = read_study(folder)
    runs = find_runs(folder)
    if not runs and study is None:
        raise PinnrunError(f"{folder}: not a run folder (no {', '.join(MARKERS)}) and no runs under it")
    contents = sort_runs([_run(run, plot) for run in runs], sort)
    if as_json:
        content = {"path": str(folder), "kind": "study" if study else "runs", "sort": sort}
        if study:
            content["study"] = study
        _print_json({**content, "runs": contents})
        return 0
    if study is not None:
        print_wide(console, study_view(folder, study))
    if contents:
        print_wide(console, runs_table(contents, folder, sort))
    for content in contents:
        for line in content.get("plots", []):
            console.print(f"wrote {escape(line)}", highlight=False)
        for note in content.get("notes", []):
            console.print(f"[yellow]note:[/] {escape(Path(content['path']).name)}: {escape(note)}", highlight=False)
    return 0


def _several(folders: list[Path], plot: bool, as_json: bool, sort: str, console: Console, out: str | None) -> int:
    """The named runs in one table; with --plot, their loss and error curves overlaid in one PNG."""
    import os

    from pinnrun.inspect.compare import runs_table, sort_runs
    from pinnrun.inspect.wide import print_wide

    for folder in folders:
        if not is_run_dir(folder):
            raise PinnrunError(f"{folder}: not a run folder (no {', '.join(MARKERS)})")
    target = Path(out or "runs-compare.png")
    if plot and target.exists():
        raise PinnrunError(f"--out {target}: exists; choose another file (nothing is overwritten)")
    if plot and target.suffix.lower() != ".png":
        raise PinnrunError(f"--out {target}: the overlay is a .png")
    contents = sort_runs([_run(folder, False) for folder in folders], sort)
    written = None
    if plot:
        from pinnrun.inspect.overlay_plot import plot_overlay

        written = str(plot_overlay([(_label(folder, folders), read_run(folder)) for folder in folders], target))
    if as_json:
        _print_json({"kind": "runs", "sort": sort, "runs": contents, **({"overlay": written} if written else {})})
        return 0
    parent = Path(os.path.commonpath([str(f.resolve()) for f in folders]))
    print_wide(console, runs_table([{**c, "path": str(Path(c["path"]).resolve())} for c in contents], parent, sort))
    if written:
        console.print(f"wrote {escape(written)}", highlight=False)
    return 0


def _label(folder: Path, folders: list[Path]) -> str:
    """A run's name in the legend: its folder's name, with the parent's where two names are alike."""
    names = [f.name for f in folders]
    return f"{folder.parent.name}/{folder.name}" if names.count(folder.name) > 1 else folder.name


def _print_json(content: dict) -> None:
    import click

    click.echo(json.dumps(_finite(content), indent=2, default=str, allow_nan=False))


def _finite(value):
    """NaN and infinity (a diverged loss) are not JSON: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
