"""Heartbeats: each rank says it is alive in heartbeats/rank-<r>.json in the run folder.

A beat is {"rank", "host", "pid", "beat": a counter, "ended": bool}, rewritten every second.
The launcher only looks at whether a rank's counter CHANGED, on its own monotonic clock,
so clocks of other hosts never matter (the run folder is shared between hosts anyway).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pinnrun.results import strict_json

HEARTBEATS = "heartbeats"
BEAT_BYTES = 256  # every beat is padded to this length (JSON allows trailing spaces); a host name is <= 64


def beat_path(run_dir: Path, rank: int) -> Path:
    return Path(run_dir) / HEARTBEATS / f"rank-{rank}.json"


def write_beat(run_dir: Path, rank: int, host: str, count: int, ended: bool = False) -> None:
    """The first beat creates the file atomically (temporary file, rename); later beats overwrite
    it in place with a record of the same length, which needs no new disk block: on a full disk
    a live rank still beats (a rename would need one, and the rank would be taken for hung).
    A reader may catch a beat half-written: it skips it, or sees a changed counter; either is
    harmless. Closed after each beat (NFS shows other hosts a file's new content after close);
    no fsync: a beat only has to be visible, not to survive a crash of the host."""
    path = beat_path(run_dir, rank)
    record = json.dumps({"rank": rank, "host": host, "pid": os.getpid(), "beat": count, "ended": ended})
    record = record.ljust(BEAT_BYTES).encode()
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        _create(path, record)
        return
    try:
        if len(record) > BEAT_BYTES or os.fstat(fd).st_size != len(record):
            raise OSError("not a beat of the usual size")
        os.pwrite(fd, record, 0)
    except OSError:
        os.close(fd)
        _create(path, record)
        return
    os.close(fd)


def _create(path: Path, record: bytes) -> None:
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(record)
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk leaves no partial file behind
        raise


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
        if (
            isinstance(beat, dict)
            and _count(beat.get("rank")) is not None
            and _count(beat.get("beat")) is not None
            and isinstance(beat.get("host"), str)
            and _count(beat.get("pid")) is not None
        ):
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
