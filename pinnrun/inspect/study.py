"""A scaling study folder (written by `pinnrun scale`): its scaling.json rendered by
pinnrun.scale.report, and where its plot is."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Group
from rich.text import Text

STUDY, PLOT = "scaling.json", "scaling.png"


def read_study(folder: Path) -> dict | None:
    """scaling.json's content; None if there is none. An unreadable one is said, not raised."""
    path = folder / STUDY
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as err:
        return {"unreadable": f"{STUDY}: {err}"}
    return data if isinstance(data, dict) else {"unreadable": f"{STUDY}: not a JSON object"}


def study_view(folder: Path, study: dict) -> Group:
    parts = [Text(f"scaling study {folder}", style="bold")]
    if "unreadable" in study:
        parts.append(Text(f"note: {study['unreadable']}", style="yellow"))
    else:
        parts += _report(study)
    plot = folder / PLOT
    parts.append(Text(f"plot: {plot}" if plot.is_file() else f"no {PLOT} in this folder", style="dim"))
    return Group(*parts)


def _report(study: dict) -> list:
    """The tables (and notes, where this version has them) of `pinnrun scale`'s own report."""
    try:  # lazily: the report belongs to `pinnrun scale` and imports its own modules
        from pinnrun.scale import report
    except ImportError as err:
        return [Text(f"note: cannot render {STUDY} here ({err})", style="yellow")]
    try:
        notes = getattr(report, "study_notes", lambda s: [])(study)
        return [*report.study_tables(study), *(Text(line) for line in notes)]
    except Exception as err:  # noqa: BLE001 - a study from another version: say so, no traceback
        return [Text(f"note: cannot render {STUDY} ({type(err).__name__}: {err})", style="yellow")]
