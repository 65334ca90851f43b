"""In what state a run is, from what it left behind: finished, failed,
interrupted, or (without a result or a terminal event) running."""
from __future__ import annotations

from pinnrun.inspect.read import RunFiles

TERMINAL = {"done": "finished", "failed": "failed", "interrupted": "interrupted"}
QUIET_SECONDS = 600  # this long without a write, a "running" run may well be dead


def run_status(files: RunFiles, now: float) -> tuple[str, str | None]:
    """(status, reason). summary.json wins; then the last terminal event; else running."""
    summary = files.summary or {}
    if summary.get("status") and isinstance(summary["status"], str):
        return summary["status"], _reason(summary.get("reason"))
    ended = [e for e in files.events if e.get("event") in TERMINAL]
    if ended:
        return TERMINAL[ended[-1]["event"]], _reason(ended[-1].get("reason"))
    # No result: either still going, or killed too hard to say so. Say which facts we have.
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
