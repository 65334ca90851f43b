"""Run a launch command, show rank 0's progress, keep the raw output in a log.

Workers' rank-prefixed output goes to `worker.log` in the run folder; the
terminal gets a progress bar fed by rank 0's `events.jsonl`. A signal to the
launcher stops every rank (exit status 128+N), a hung rank stops the job
(launch/job_watch.py), and no rank outlives the launcher (launch/lifeline.py);
otherwise the exit status is the job's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from rich.console import Console

from pinnrun.launch.command import shell_safe_environment
from pinnrun.launch.faults import Faults
from pinnrun.launch.job_watch import JobWatch, SignalInbox
from pinnrun.launch.lifeline import die_with_parent
from pinnrun.launch.progress import ProgressView
from pinnrun.launch.terminal import survive_hangup
from pinnrun.results import strict_json
from pinnrun.results.heartbeat import clear_beats
from pinnrun.results.launcher_record import record_launcher
from pinnrun.results.files import EVENTS, LOG


class EventTail:
    """Reads new complete lines of events.jsonl as they are appended."""

    def __init__(self, path: Path):
        self.path, self.offset, self.partial = path, 0, ""

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path) as f:
            f.seek(self.offset)
            chunk = f.read()
            self.offset = f.tell()
        lines = (self.partial + chunk).split("\n")
        self.partial = lines.pop()
        return [event for event in map(_event, lines) if event is not None]


def _event(line: str) -> dict | None:
    """One record of events.jsonl; a line that is not a JSON object is skipped, not fatal."""
    try:
        event = strict_json.loads(line) if line.strip() else None
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


INTERRUPTED = 130  # the shell's status for a job stopped by Ctrl-C
POLL_SECONDS = 0.2
# What the launcher's child gets when the launcher dies (`kill -9`): see launch/lifeline.py.
LAUNCHER_DEATH_SIGNAL = signal.SIGKILL
# srun killed outright leaves its tasks running until the allocation ends (slurmstepd, their parent,
# stays); on SIGTERM it kills every task of the step at once ("forcing job termination")
SRUN_DEATH_SIGNAL = signal.SIGTERM


def launcher_death_signal(cmd: list[str]) -> int:
    return SRUN_DEATH_SIGNAL if cmd and cmd[0] == "srun" else LAUNCHER_DEATH_SIGNAL


def run_job(
    cmd: list[str], env: dict[str, str], run_dir: Path, console: Console, faults: Faults = Faults(), quiet: bool = False
) -> tuple[int, dict | None]:
    """Run to completion; returns (exit status, the final event or None). A signal to the
    launcher stops every rank (128+N); a hung rank stops the job (launch/job_watch.py).
    `quiet`: no progress shown."""
    tail = EventTail(run_dir / EVENTS)
    # cmd is an argument list (no shell here); horovodrun itself writes every variable name
    # unquoted into a shell command, so names a shell could not export are left out.
    # Horovod's stall bound is a default: a value in the environment or the cluster spec wins.
    full_env = shell_safe_environment(
        faults.horovod_environment() | os.environ | {"PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"} | env
    )
    survive_hangup(console)  # SIGHUP from a closed terminal: stop cleanly, not die writing to it
    clear_beats(run_dir)  # a resumed run's old beats say nothing about the new ranks
    record_launcher(run_dir)
    with open(run_dir / LOG, "ab") as log, SignalInbox() as inbox:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(launcher_death_signal(cmd)),
        )
        watch = JobWatch(proc, run_dir, console, faults)
        view = ProgressView(console, quiet)
        final = None
        with view:
            while proc.poll() is None:
                for event in tail.read():
                    final = view.update(event) or final
                view.tick()
                watch.check(inbox.take())
                time.sleep(POLL_SECONDS)
            for event in tail.read():
                final = view.update(event) or final
        return watch.outcome(), final
