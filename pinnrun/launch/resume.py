"""`pinnrun train --resume RUN_DIR`: make a stopped, failed or interrupted run folder ready to
continue from its newest checkpoint.

Nothing is deleted: what the earlier attempt wrote after that checkpoint, and the files that
said how it ended, move to `attempts/<k>/`. metrics.jsonl keeps the records up to the
checkpoint's step, so the continued run appends the next steps without a gap or a repeat.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pinnrun.errors import PinnrunError
from pinnrun.results import strict_json
from pinnrun.results.checkpoints import Checkpoint, CheckpointError, in_run, latest_checkpoint
from pinnrun.results.failures import FAILURES
from pinnrun.results.heartbeat import HEARTBEATS
from pinnrun.results.launcher_record import LAUNCHER, launcher_gone, read_launcher
from pinnrun.results.recorder import cut_metrics, write_json
from pinnrun.results.stop_request import STOP
from pinnrun.results.files import EVENTS, METRICS, RUN, SPEC, SUMMARY

ATTEMPTS = "attempts"
# How the earlier attempt ended and what only it used; the resumed run writes its own.
ENDED = (SUMMARY, EVENTS, FAILURES, HEARTBEATS, "tensorboard", STOP, LAUNCHER)


def check_resumable(run_dir: Path) -> Checkpoint:
    """The checkpoint the run will continue from, or a one-line refusal."""
    if not (run_dir / RUN).is_file() or not (run_dir / SPEC).is_file():
        raise PinnrunError(f"--resume {run_dir}: not a pinnrun run folder (no run.json and spec.yaml)")
    summary = strict_json.read_object(run_dir / SUMMARY)
    if summary.get("status") == "finished":
        raise PinnrunError(f"--resume {run_dir}: the run finished; there is nothing to continue")
    launcher = read_launcher(run_dir)
    if launcher is not None and launcher_gone(launcher) is False and summary.get("status") is None:
        raise PinnrunError(
            f"--resume {run_dir}: the run is still going (its launcher, pid {launcher['pid']}, "
            "is running); stop it first"
        )
    try:
        found = latest_checkpoint(run_dir, arrays=False)
    except CheckpointError as err:
        raise PinnrunError(f"--resume {run_dir}: {err}") from None
    if found is None:
        raise PinnrunError(
            f"--resume {run_dir}: no checkpoint to continue from (the run stopped before its first one); start it again"
        )
    return found


def prepare_resume(run_dir: Path, found: Checkpoint, ranks: int, extra: dict | None = None) -> int:
    """Move the earlier attempt's ending aside and cut metrics.jsonl at the checkpoint; the
    attempt number. Records the attempt in run.json."""
    run = strict_json.read_object(run_dir / RUN)
    attempts = list(run.get("attempts") or [])
    folder = run_dir / ATTEMPTS / str(len(attempts) + 1)
    folder.mkdir(parents=True, exist_ok=False)
    for name in ENDED:
        if (run_dir / name).exists():
            os.replace(run_dir / name, folder / name)
    cut_metrics(run_dir / METRICS, found.step, folder / "metrics-after-checkpoint.jsonl")
    attempts.append(
        {
            "resumed": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "from_step": found.step,
            "checkpoint": in_run(found.path.name),
            "ranks_before": run.get("ranks"),
            "ended_before": f"{ATTEMPTS}/{len(attempts) + 1}",
        }
    )
    extra = extra or {}
    run = {k: v for k, v in run.items() if k != "elastic"}  # this attempt says again whether it is elastic
    write_json(run_dir / RUN, {**run, "ranks": ranks, "attempts": attempts, **extra})
    return len(attempts)
