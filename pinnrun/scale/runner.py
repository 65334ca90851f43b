"""Running the trainings of a study, one run folder each, and keeping the study file current.

Every training goes through `pinnrun train`'s own path, so a study's runs are
ordinary run folders (inspectable one by one). The study file is rewritten
after every training: an interrupted or crashed study keeps what it measured.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from pinnrun.errors import PinnrunError, one_line
from pinnrun.launch.cluster import Host
from pinnrun.launch.command import local_gpu_count
from pinnrun.launch.job_watch import INTERRUPTED_STATUSES
from pinnrun.launch.train import train
from pinnrun.results import strict_json
from pinnrun.results.files import SUMMARY
from pinnrun.results.recorder import write_json

STUDY = "scaling.json"


@dataclass(frozen=True)
class Launch:
    """How each training of a study is started (the flags of `pinnrun train`)."""

    gpus: bool = False
    hosts: list[Host] | None = None
    launcher: str | None = None
    cluster: str | None = None

    def capacity(self) -> int | None:
        """Ranks this host runs without oversubscribing; None when other hosts are named
        (their slots decide, and asking for more is an error of its own)."""
        if self.hosts or self.cluster:
            return None
        gpus = local_gpu_count() if self.gpus else 0
        return gpus or len(os.sched_getaffinity(0))

    def unit(self) -> str:
        return "GPU(s)" if self.gpus and local_gpu_count() else "core(s)"


@dataclass
class Outcome:
    run: str  # run folder, relative to the study folder
    status: str  # finished | failed | interrupted
    reason: str | None
    summary: dict
    seconds: float  # wall time of the whole command, start-up included

    @property
    def finished(self) -> bool:
        return self.status == "finished"


def step_overrides(steps: int | None, log_every: int) -> list[str]:
    """--steps K: K Adam steps and no L-BFGS (a timing study), logged often enough that
    the median time per step is taken over about 20 timed chunks."""
    if steps is None:
        return []
    return [
        f"training.adam.steps={steps}",
        "training.lbfgs=null",
        f"training.log_every={min(log_every, max(1, steps // 20))}",
    ]


def run_training(
    study_dir: Path,
    name: str,
    spec: str,
    overrides: list[str],
    ranks: int,
    scaling: str,
    launch: Launch,
    probe: bool = False,
) -> Outcome:
    """One training under study_dir/name; never raises for a failed run. `probe`: time
    compute and all-reduce apart after training (pinnrun/training/probe.py)."""
    run_dir = study_dir / name
    started = time.perf_counter()
    quiet = Console(quiet=True)
    try:
        code = train(
            spec,
            overrides,
            ranks,
            launch.gpus,
            launch.hosts,
            scaling,
            launch.launcher,
            launch.cluster,
            str(run_dir),
            False,
            quiet,
            worker_args=("--probe",) if probe else (),
        )
    except PinnrunError as err:  # e.g. more ranks than the named hosts offer
        return Outcome(name, "failed", one_line(str(err)), {}, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    summary = strict_json.read_object(run_dir / SUMMARY)
    status = "interrupted" if code in INTERRUPTED_STATUSES else summary.get("status", "failed")
    if code != 0 and status == "finished":
        status = "failed"
    return Outcome(
        name, status, summary.get("reason") or (None if code == 0 else f"exit status {code}"), summary, seconds
    )


def save_study(study_dir: Path, study: dict) -> None:
    study["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json(study_dir / STUDY, study)
