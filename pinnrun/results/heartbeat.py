"""Heartbeats: each rank says it is alive in heartbeats/rank-<r>.json in the run folder.

A beat is {"rank", "host", "pid", "beat": a counter, "ended": bool}, replaced atomically.
The launcher only looks at whether a rank's counter CHANGED, on its own monotonic clock,
so clocks of other hosts never matter (the run folder is shared between hosts anyway).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from pinnrun.results import strict_json

HEARTBEATS = "heartbeats"


def beat_path(run_dir: Path, rank: int) -> Path:
    return Path(run_dir) / HEARTBEATS / f"rank-{rank}.json"


def write_beat(run_dir: Path, rank: int, host: str, count: int, ended: bool = False) -> None:
    """Atomic (temporary file, rename): a reader sees the old beat or the new one, never half.
    No fsync: a beat only has to be visible, not to survive a crash of the host."""
    path = beat_path(run_dir, rank)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"rank": rank, "host": host, "pid": os.getpid(), "beat": count, "ended": ended}))
    tmp.replace(path)


def read_beats(run_dir: Path) -> dict[int, dict]:
    """rank -> its latest beat; unreadable or odd files are skipped (the next read will do)."""
    found = {}
    try:
        paths = list((Path(run_dir) / HEARTBEATS).glob("rank-*.json"))
    except OSError:
        return found
    for path in paths:
        try:
            beat = strict_json.loads(path.read_text(errors="replace"))
        except (OSError, ValueError, RecursionError):
            continue
        if (isinstance(beat, dict) and _count(beat.get("rank")) is not None and _count(beat.get("beat")) is not None
                and isinstance(beat.get("host"), str) and _count(beat.get("pid")) is not None):
            found[beat["rank"]] = beat
    return found


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def clear_beats(run_dir: Path) -> None:
    """Before a job starts: beats left by an earlier job in this folder (a resume) say nothing now."""
    for path in (Path(run_dir) / HEARTBEATS).glob("*"):
        try:
            path.unlink()
        except OSError:
            pass
