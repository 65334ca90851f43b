"""launcher.json: which process launched a run, so that `inspect` can tell a run whose
launcher was killed (`kill -9`, the host rebooted) from one still going.

A pid alone is not enough: pids are reused. The process's start time (field 22 of
/proc/PID/stat, clock ticks since boot) and the boot id name one process for good.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pinnrun.results import strict_json
from pinnrun.results.recorder import write_json
from pinnrun.spec.regular_file import read_capped

LAUNCHER = "launcher.json"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
MAX_RECORD_BYTES = 4096  # a record is about 150 bytes


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 (state) on, [] for a process that is gone (the command name,
    field 2, may hold spaces and parentheses)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_alive(pid: int) -> bool:
    """Running or stopped; a zombie waiting for its parent has stopped running."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def process_start(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot."""
    fields = stat_fields(pid)
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def boot_id() -> str | None:
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def this_launcher() -> dict:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "start_ticks": process_start(pid), "boot_id": boot_id()}


def record_launcher(run_dir: Path) -> None:
    """Best effort: without it, inspect falls back to how long the run has been quiet."""
    try:
        write_json(Path(run_dir) / LAUNCHER, this_launcher())
    except OSError:
        pass


def read_launcher(run_dir: Path) -> dict | None:
    """The record, or None for a missing or damaged one (read as a regular file, within a size
    cap: `inspect` must not hang on a FIFO of that name)."""
    try:
        record = strict_json.loads(read_capped(Path(run_dir) / LAUNCHER, MAX_RECORD_BYTES, "a launcher record"))
    except (OSError, ValueError, RecursionError):  # FileRefused is a ValueError
        return None
    if not (isinstance(record, dict) and isinstance(record.get("pid"), int) and isinstance(record.get("host"), str)):
        return None
    return record


def launcher_gone(record: dict) -> bool | None:
    """True: the recorded launcher is not running any more; False: it is; None: cannot tell
    from here (it ran on another host)."""
    if record.get("host") != socket.gethostname():
        return None
    if record.get("boot_id") and boot_id() and record["boot_id"] != boot_id():
        return True  # the host rebooted since
    if not process_alive(record["pid"]):
        return True
    return record.get("start_ticks") is not None and process_start(record["pid"]) != record["start_ticks"]  # reused
