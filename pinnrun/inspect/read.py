"""Tolerant loading of a run folder: whatever files exist, however far the run got.

Nothing here raises for a missing or half-written file; what could not be read
is noted so that the view can say so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

MARKERS = ("run.json", "summary.json", "events.jsonl")
# files a live run keeps appending to: their newest mtime says when it last did something
LIVE_FILES = ("events.jsonl", "metrics.jsonl", "worker.log", "summary.json", "run.json")


@dataclass
class RunFiles:
    path: Path
    run: dict | None = None        # run.json: how it was launched
    env: dict | None = None        # env.json: versions and devices (absent if the worker died early)
    summary: dict | None = None    # summary.json: the result (absent while running)
    events: list[dict] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    spec: dict | None = None       # the few spec fields inspect needs, see spec_fields
    last_write: float | None = None
    notes: list[str] = field(default_factory=list)  # files that exist but could not be read


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in MARKERS)


def read_run(path: Path) -> RunFiles:
    files = RunFiles(Path(path))
    files.run = _json(files, "run.json")
    files.env = _json(files, "env.json")
    files.summary = _json(files, "summary.json")
    files.events = _jsonl(files, "events.jsonl")
    files.metrics = _jsonl(files, "metrics.jsonl")
    files.spec = spec_fields(files)
    times = [(path / name).stat().st_mtime for name in LIVE_FILES if (path / name).is_file()]
    files.last_write = max(times, default=None)
    return files


def spec_fields(files: RunFiles) -> dict | None:
    """Name, inputs (space then time, the order of the prediction arrays), outputs, planned steps.

    The validated spec when it loads; otherwise the raw YAML, so that a run whose
    reference file has since moved can still be inspected."""
    path = files.path / "spec.yaml"
    if not path.is_file():
        return None
    try:
        from pinnrun.spec.loader import load_spec

        data = load_spec(path).spec.model_dump(mode="json")
    except Exception:  # noqa: BLE001 - any failure: fall back to the plain YAML
        try:
            import yaml

            data = yaml.safe_load(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a mapping")
        except Exception as err:  # noqa: BLE001
            files.notes.append(f"spec.yaml: unreadable ({err})")
            return None
    variables = data.get("variables") or {}
    training = data.get("training") or {}
    inputs = list(variables.get("space") or []) + ([variables["time"]] if variables.get("time") else [])
    return {
        "name": data.get("name"), "description": data.get("description") or "",
        "inputs": inputs, "time": variables.get("time"), "outputs": list(data.get("outputs") or []),
        "scaling": data.get("scaling"), "has_reference": data.get("reference") is not None,
        "planned_steps": {"adam": (training.get("adam") or {}).get("steps"),
                          "lbfgs": (training.get("lbfgs") or {}).get("steps", 0)},
    }


def _json(files: RunFiles, name: str) -> dict | None:
    path = files.path / name
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        files.notes.append(f"{name}: unreadable ({err})")
        return None
    if not isinstance(data, dict):
        files.notes.append(f"{name}: not a JSON object")
        return None
    return data


def _jsonl(files: RunFiles, name: str) -> list[dict]:
    """Every complete record; a live run's half-written last line is skipped silently."""
    path = files.path / name
    if not path.is_file():
        return []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as err:
        files.notes.append(f"{name}: unreadable ({err})")
        return []
    records, bad = [], 0
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            bad += i < len(lines) - 1 and bool(line.strip())
            continue
        if isinstance(record, dict):
            records.append(record)
    if bad:
        files.notes.append(f"{name}: {bad} unreadable line(s) skipped")
    return records
