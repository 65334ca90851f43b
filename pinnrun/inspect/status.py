"""In what state a run is, from what it left behind: finished, failed,
interrupted, dead, or (without a result or a terminal event) running.

Dead: the ranks saw their launcher die and said so in summary.json, or nothing
could say so (`kill -9` of every process) but launcher.json names a launcher of
this host that is gone. Of a launcher on another host nothing can be known here:
such a run stays running, with how long it has been quiet."""

from __future__ import annotations

from collections.abc import Callable

from pinnrun.inspect.read import RunFiles
from pinnrun.results.launcher_record import launcher_gone, read_launcher

TERMINAL = {"done": "finished", "failed": "failed", "interrupted": "interrupted"}
QUIET_SECONDS = 600  # this long without a write, a "running" run may well be dead


def run_status(
    files: RunFiles, now: float, gone: Callable[[dict], bool | None] = launcher_gone
) -> tuple[str, str | None]:
    """(status, reason). summary.json wins; then the last terminal event; then a launcher that is
    gone (`gone(launcher.json's record)`: True, False, or None where it cannot tell); else running."""
    summary = files.summary or {}
    if summary.get("status") and isinstance(summary["status"], str):
        return summary["status"], _reason(summary.get("reason"))
    ended = [e for e in files.events if e.get("event") in TERMINAL]
    if ended:
        return TERMINAL[ended[-1]["event"]], _reason(ended[-1].get("reason"))
    # No result: either still going, or killed too hard to say so. Say which facts we have.
    launcher = read_launcher(files.path)
    if launcher is not None and gone(launcher):
        return "dead", f"the launcher (pid {launcher['pid']}) is gone and left no result"
    if files.last_write is None:
        return "running", "nothing written yet"
    quiet = now - files.last_write
    reason = f"no result yet; last write {ago(quiet)}"
    if quiet > QUIET_SECONDS:
        reason += " — if no rank is alive any more, it was killed without a word"
    elif not files.events:
        reason += " (ranks starting)"
    return "running", reason


def _reason(value) -> str | None:
    """A reason as text, whatever a damaged file holds."""
    return None if value is None else value if isinstance(value, str) else str(value)


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"
