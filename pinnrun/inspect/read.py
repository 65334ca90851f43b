"""Tolerant loading of a run folder: whatever files exist, however far the run got.

Nothing here raises for a missing, half-written or damaged file. A record of the
wrong shape (`"step": "x"`, a list where a mapping belongs) is skipped with a note;
a file that exists but cannot be read at all marks the run `broken`, with the reason.
Files are read as regular files with a size cap (a FIFO or /dev/zero named
metrics.jsonl neither hangs nor floods inspect).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pinnrun.errors import printable, shorten
from pinnrun.inspect.typed import as_count, as_mapping, as_number, as_text
from pinnrun.results import strict_json
from pinnrun.results.files import ENV, EVENTS, LOG, METRICS, RUN, SPEC, SUMMARY

MARKERS = (RUN, SUMMARY, EVENTS)
# files a live run keeps appending to: their newest mtime says when it last did something
LIVE_FILES = (EVENTS, METRICS, LOG, SUMMARY, RUN)
# summary.json and the like are kilobytes; a metrics.jsonl of a run logged at every one of 100,000 steps
# is about 30 MB. Of a longer .jsonl only the last MAX_READ_BYTES are read (the latest state), with a note.
MAX_READ_BYTES = 64 * 1024 * 1024
NUMBERS = ("loss", "elapsed", "lr", "l2_relative_error")  # metrics fields that are a number or null


@dataclass
class RunFiles:
    path: Path
    run: dict | None = None  # run.json: how it was launched
    env: dict | None = None  # env.json: versions and devices (absent if the worker died early)
    summary: dict | None = None  # summary.json: the result (absent while running)
    events: list[dict] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    spec: dict | None = None  # the few spec fields inspect needs, see spec_fields
    last_write: float | None = None
    notes: list[str] = field(default_factory=list)  # files that exist but could not be read (all of them)
    broken: str | None = None  # the first file that exists but could not be read at all

    def unreadable(self, reason: str) -> None:
        self.notes.append(reason)
        self.broken = self.broken or reason


def is_run_dir(path: Path) -> bool:
    """A folder with a run's marker file. A folder that cannot be looked into counts as one
    (shown as broken, with the reason) rather than hidden or raised."""
    try:
        return path.is_dir() and any((path / name).is_file() for name in MARKERS)
    except OSError:
        return True


def read_run(path: Path) -> RunFiles:
    files = RunFiles(Path(path))
    try:
        files.run = _json(files, RUN)
        files.env = _json(files, ENV)
        files.summary = _json(files, SUMMARY)
        files.events = _jsonl(files, EVENTS, _event)
        files.metrics = _jsonl(files, METRICS, _metric)
        files.spec = spec_fields(files)
        times = [(path / name).stat().st_mtime for name in LIVE_FILES if (path / name).is_file()]
        files.last_write = max(times, default=None)
    except OSError as err:  # the folder itself: no permission, gone meanwhile
        files.unreadable(f"folder unreadable ({err.strerror or short_reason(err)})")
    return files


def spec_fields(files: RunFiles) -> dict | None:
    """Name, inputs (space then time, the order of the prediction arrays), outputs, derived
    quantities, planned steps.

    The validated spec when it loads; otherwise the raw YAML, so that a run whose
    reference file has since moved can still be inspected."""
    path = files.path / SPEC
    if not path.is_file():
        return None
    try:
        from pinnrun.spec.loader import load_spec

        data = load_spec(path).spec.model_dump(mode="json")
    except Exception:  # noqa: BLE001 - any failure: fall back to the plain YAML
        try:
            data = _plain_yaml(path)
        except Exception as err:  # noqa: BLE001
            files.unreadable(f"spec.yaml: unreadable ({short_reason(err)})")
            return None
    variables, training = as_mapping(data.get("variables")), as_mapping(data.get("training"))
    space, time = variables.get("space"), variables.get("time")
    time = time if isinstance(time, str) else None
    inputs = [v for v in (space if isinstance(space, list) else []) if isinstance(v, str)] + ([time] if time else [])
    outputs, derived = data.get("outputs"), data.get("derived")
    return {
        "name": as_text(data.get("name")),
        "description": as_text(data.get("description")) or "",
        "inputs": inputs,
        "time": time,
        "outputs": [o for o in (outputs if isinstance(outputs, (list, dict)) else []) if isinstance(o, str)],
        "derived": [d for d in (derived if isinstance(derived, dict) else {}) if isinstance(d, str)],
        "scaling": as_text(data.get("scaling")),
        "has_reference": data.get("reference") is not None,
        "true_values": _true_values(data.get("parameters")),
        "planned_steps": {
            "adam": as_count(as_mapping(training.get("adam")).get("steps")),
            "lbfgs": as_count(as_mapping(training.get("lbfgs")).get("steps", 0)),
        },
    }


def _true_values(parameters) -> dict[str, float]:
    """Parameter -> its known true value, for those the spec gives one."""
    return {
        name: as_mapping(p).get("true_value")
        for name, p in as_mapping(parameters).items()
        if isinstance(name, str) and as_number(as_mapping(p).get("true_value")) is not None
    }


def _plain_yaml(path: Path) -> dict:
    """The spec's YAML without validation, within the spec loader's own bounds (size, depth, aliases)."""
    import yaml

    from pinnrun.spec.limits import MAX_SPEC_FILE_BYTES
    from pinnrun.spec.regular_file import read_capped
    from pinnrun.spec.yaml_bounds import check_structure, decode_utf8

    text = decode_utf8(read_capped(path, MAX_SPEC_FILE_BYTES, "a spec file"))
    check_structure(text, yaml.SafeLoader)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("not a mapping")
    return data


def _read(files: RunFiles, name: str, tail: bool = False) -> bytes | None:
    """The file's bytes, at most MAX_READ_BYTES: a larger file is unreadable, or with `tail`
    (JSON lines) read from its last MAX_READ_BYTES on, from the first whole line."""
    from pinnrun.spec.regular_file import open_regular, read_capped

    path = files.path / name
    if not path.is_file():
        return None
    try:
        if not tail:
            return read_capped(path, MAX_READ_BYTES, "a file inspect reads")
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size <= MAX_READ_BYTES:
                return f.read(MAX_READ_BYTES)
            f.seek(size - MAX_READ_BYTES)
            data = f.read(MAX_READ_BYTES)
        files.notes.append(f"{name}: {size / 2**20:.0f} MiB; only its last {MAX_READ_BYTES // 2**20} MiB read")
        return data[data.find(b"\n") + 1 :]
    except (OSError, ValueError) as err:  # FileRefused is a ValueError
        files.unreadable(f"{name}: unreadable ({short_reason(err)})")
        return None


def _json(files: RunFiles, name: str) -> dict | None:
    data = _read(files, name)
    if data is None:
        return None
    try:
        value = strict_json.loads(data)  # NaN accepted too: files written before summaries were strict JSON
    except (ValueError, RecursionError) as err:
        files.unreadable(f"{name}: unreadable ({short_reason(err)})")
        return None
    if not isinstance(value, dict):
        files.unreadable(f"{name}: not a JSON object")
        return None
    return value


def _jsonl(files: RunFiles, name: str, check) -> list[dict]:
    """Every complete record of the right shape; a live run's half-written last line is skipped
    silently, other unreadable lines and records of the wrong shape with a note."""
    data = _read(files, name, tail=True)
    if data is None:
        return []
    if b"\0" in data:
        files.unreadable(f"{name}: unreadable (a binary file, not JSON lines)")
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    records, bad, wrong = [], 0, 0
    for i, line in enumerate(lines):
        try:
            record = strict_json.loads(line)
        except (ValueError, RecursionError):
            bad += i < len(lines) - 1 and bool(line.strip())
            continue
        record = check(record) if isinstance(record, dict) else None
        if record is None:
            wrong += 1
        else:
            records.append(record)
    if bad and not records:
        files.unreadable(f"{name}: unreadable (no line is a JSON record)")
    elif bad:
        files.notes.append(f"{name}: {bad} unreadable line(s) skipped")
    if wrong:
        files.notes.append(f"{name}: {wrong} record(s) of the wrong shape skipped")
    return records


def _metric(record: dict) -> dict | None:
    """A metrics.jsonl record with the types the views rely on, or None."""
    if as_count(record.get("step")) is None or not isinstance(record.get("phase"), str):
        return None
    if any(record.get(k) is not None and as_number(record.get(k)) is None for k in NUMBERS):
        return None
    # term -> loss, output -> error, parameter -> value: each a mapping of numbers (or null)
    for key in ("losses", "l2_relative_errors", "parameters"):
        values = record.get(key)
        if values is not None and not (
            isinstance(values, dict) and all(v is None or as_number(v) is not None for v in values.values())
        ):
            return None
    return record


def _event(record: dict) -> dict | None:
    return record if isinstance(record.get("event"), str) else None


def short_reason(err: Exception) -> str:
    """A reason on one line (PyYAML's span several), printable and at most about 200 characters."""
    return shorten(printable(" ".join(str(err).split())), 200)
