"""Every run under a parent folder in one table, sortable by name, error or time."""

from __future__ import annotations

import math
from pathlib import Path

from rich import box
from rich.table import Table
from rich.text import Text

from pinnrun.inspect.format import styled_status
from pinnrun.inspect.read import is_run_dir
from pinnrun.numbers import DASH, count, per_step, sci, seconds

COLUMNS = (
    "run",
    "status",
    "problem",
    "ranks",
    "scaling",
    "global points",
    "steps",
    "wall s",
    "per step",
    "L2 error",
    "final loss",
)
SKIP = {"checkpoint", "tensorboard", "__pycache__"}


def find_runs(parent: Path, seen: set | None = None) -> list[Path]:
    """Run folders at any depth; a run folder's own subfolders are not searched.
    Symbolic links are followed (a folder of links to runs is a fine comparison), each folder once."""
    seen = set() if seen is None else seen
    try:
        children = sorted(p for p in parent.iterdir() if p.name not in SKIP and not p.name.startswith("."))
    except OSError:  # unreadable folder: nothing to show from it
        return []
    found = []
    for child in children:
        try:
            if not child.is_dir():
                continue
            real = child.resolve()
        except (OSError, RuntimeError):  # a link loop or a vanished entry: not a folder of runs
            continue
        if real in seen:
            continue
        seen.add(real)
        found += [child] if is_run_dir(child) else find_runs(child, seen)
    return found


def sort_runs(runs: list[dict], key: str) -> list[dict]:
    """error: smallest L2 error first; time: shortest wall time first; runs without one go last."""
    if key == "name":
        return sorted(runs, key=lambda r: r["path"])
    field = {"error": "l2_relative_error", "time": "wall_seconds"}[key]

    def rank(r):
        v = r.get(field)
        ok = isinstance(v, (int, float)) and math.isfinite(v)
        return (not ok, v if ok else 0.0, r["path"])

    return sorted(runs, key=rank)


def runs_table(runs: list[dict], parent: Path, sort: str) -> Table:
    table = Table(
        title=f"{len(runs)} run(s) under {parent}, sorted by {sort}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    for name in COLUMNS:
        # only the run's path may wrap: numbers cut short would be wrong numbers
        table.add_column(
            name,
            justify="left" if name in ("run", "status", "problem", "scaling") else "right",
            no_wrap=name != "run",
            overflow="fold",
            max_width=40 if name == "run" else None,
        )
    for r in runs:
        points = (r.get("points") or {}).get("global_total")
        loss = r.get("final_loss")
        last = loss is None and r.get("last_logged")
        if last:
            loss = last.get("loss")
        # Text, not markup: a folder or problem named like `[/x]` is shown as it is
        table.add_row(
            Text(_relative(r["path"], parent)),
            styled_status(r["status"]),
            Text(r.get("problem") or "?"),
            str(r.get("ranks") or DASH),
            Text(r.get("scaling") or DASH),
            count(points),
            _steps(r),
            seconds(r.get("wall_seconds")),
            per_step(r.get("seconds_per_step")),
            sci(r.get("l2_relative_error"), 2),
            sci(loss, 2) + (" (last)" if last else ""),
        )
    return table


def _steps(r: dict) -> str:
    steps = r.get("steps") or {}
    total = steps.get("total")
    return DASH if total is None else f"{total:,}" if isinstance(total, int) else str(total)


def _relative(path: str, parent: Path) -> str:
    try:
        return str(Path(path).relative_to(parent))
    except ValueError:
        return path
