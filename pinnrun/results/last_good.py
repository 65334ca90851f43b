"""Which checkpoint holds a run's last good state, for a summary the ranks could not write
themselves (a hung rank, the launcher's death, ranks stopped too hard to say)."""

from __future__ import annotations

from pathlib import Path

from pinnrun.results.checkpoints import CheckpointError, in_run, latest_checkpoint


def last_good_checkpoint(run_dir: Path) -> dict:
    """{"checkpoint": "checkpoints/step-….npz"} for the newest one that reads back whole, else {}."""
    try:
        found = latest_checkpoint(Path(run_dir), arrays=False)
    except CheckpointError:
        return {}
    return {"checkpoint": in_run(found.path.name)} if found is not None else {}
