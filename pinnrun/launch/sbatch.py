"""`pinnrun sbatch`: a SLURM batch script that runs `pinnrun train`, written and submitted.

The script asks SLURM for the nodes, tasks and GPUs; inside the allocation `pinnrun train`
takes its hosts, ranks and GPU counts from SLURM (launch/slurm.py), never from the machine
that submitted it. The run folder is fixed at submission, so the user knows where the
results will be; the script and SLURM's own log lie beside it (`<run>.sbatch`,
`<run>.slurm-<jobid>.out`), because `pinnrun train` wants the run folder new or empty.

Stopping: SLURM sends SIGTERM to every process of the job (scancel, the time limit) and
SIGKILL KillWait seconds later (30 by default). The ranks get it too, so each stops at once
and rank 0 records the run interrupted (on the test cluster every rank on every host was gone
3 s after scancel, far inside KillWait; the launcher's --stop-grace is not waited for, mpirun
ends as soon as its ranks have); --resume continues from the last periodic checkpoint.
A clean stop, every rank at the same step with a final checkpoint, needs SIGTERM to reach
`pinnrun train` alone (it is the batch shell: exec). The script asks SLURM for that ahead of
the time limit (`--signal=B:TERM@SIGNAL_LEAD`); `scancel --batch --signal=TERM JOBID` does it
by hand.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from pinnrun.errors import PinnrunError, one_line
from pinnrun.results.run_folder import check_out

# How long the ranks get to stop by themselves at their next chunk (a chunk of log_every steps, or an
# L-BFGS compile) after the launcher's SIGTERM, before it stops mpirun: SIGINT, SIGTERM 10 s later,
# SIGKILL 5 s after that (launch/job_watch.py stop). pinnrun train's own default, written out because
# SIGNAL_LEAD is sized by it.
STOP_GRACE = 60
# Seconds before the time limit that the launcher alone gets SIGTERM: STOP_GRACE + 15 s of hard stop,
# and SLURM's timer, which looks at time limits about every 30 s (measured: --time 3 with a lead of
# 120 s, the signal came 57 s into the job; the ranks stopped at a step with a final checkpoint and
# the job ended 6 s later).
SIGNAL_LEAD = 120
SUBMIT_TIMEOUT = 60  # seconds sbatch may take to answer (a busy controller answers within a few)
# A partition or account name: what SLURM's own names look like. It goes onto an #SBATCH line,
# which sbatch splits at white space and where '#', quotes and '%' would be read.
SLURM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
# SLURM's time formats: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
# days-hours:minutes, days-hours:minutes:seconds; or no limit.
_TIME = re.compile(
    r"(?:(?P<days>\d{1,5})-(?P<dh>\d{1,2})(?::(?P<dm>\d{1,2})(?::(?P<ds>\d{1,2}))?)?"
    r"|(?P<a>\d{1,7})(?::(?P<b>\d{1,2})(?::(?P<c>\d{1,2}))?)?)"
)
UNLIMITED = ("UNLIMITED", "INFINITE")
# Characters an #SBATCH line cannot carry inside its double quotes (sbatch's own parser).
_UNQUOTABLE = re.compile(r'["\\\x00-\x1f\x7f]')


@dataclass(frozen=True)
class BatchJob:
    nodes: int
    ntasks_per_node: int
    gpus_per_node: int | None = None
    time: str | None = None
    partition: str | None = None
    account: str | None = None


def check_time(text: str) -> str:
    """A SLURM time limit as given, or a one-line error."""
    if text.upper() in UNLIMITED:
        return text
    m = _TIME.fullmatch(text)
    if m is None:
        raise PinnrunError(
            f"--time {text}: not a SLURM time (MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS, "
            "DAYS-HOURS, DAYS-HOURS:MINUTES, DAYS-HOURS:MINUTES:SECONDS or UNLIMITED)"
        )
    g = m.groupdict()
    if g["days"] is not None:
        parts = [("hours", g["dh"], 24), ("minutes", g["dm"], 60), ("seconds", g["ds"], 60)]
    elif g["c"] is not None:  # h:m:s
        parts = [("minutes", g["b"], 60), ("seconds", g["c"], 60)]
    else:  # minutes, or minutes:seconds
        parts = [("seconds", g["b"], 60)]
    for name, value, limit in parts:
        if value is not None and int(value) >= limit:
            raise PinnrunError(f"--time {text}: {name} {int(value)} is not below {limit}")
    if all(int(v) == 0 for v in m.groups() if v is not None):
        raise PinnrunError(f"--time {text}: a time limit of zero")
    return text


def check_slurm_name(option: str, text: str) -> str:
    if not SLURM_NAME.fullmatch(text):
        raise PinnrunError(
            f"{option} {text}: not a SLURM name (1-64 letters, digits, '_', '.' or '-', not starting with '.' or '-')"
        )
    return text


def check_job(job: BatchJob) -> BatchJob:
    if job.time is not None:
        check_time(job.time)
    if job.partition is not None:
        check_slurm_name("--partition", job.partition)
    if job.account is not None:
        check_slurm_name("--account", job.account)
    return job


def gpu_notes(job: BatchJob) -> list[str]:
    """Each rank takes its node's GPU by local rank (training/placement.py)."""
    g, k = job.gpus_per_node, job.ntasks_per_node
    if g is None or g == k:
        return []
    if k > g:
        return [f"{k} ranks per node share {g} GPU(s)"]
    return [f"{g - k} of {g} GPUs per node left idle: one rank per GPU is --ntasks-per-node {g}"]


def pinnrun_command() -> list[str]:
    """This installation's pinnrun by absolute path (the venv's), as the job must run it:
    the compute nodes' PATH may hold another pinnrun, or none."""
    python = Path(os.path.abspath(sys.executable))
    beside = python.parent / "pinnrun"
    return [str(beside)] if beside.exists() else [str(python), "-m", "pinnrun.cli"]


def train_command(spec: Path, run_dir: Path, overrides: list[str]) -> list[str]:
    cmd = [*pinnrun_command(), "train", str(spec), "--out", str(run_dir), "--stop-grace", str(STOP_GRACE)]
    for item in overrides:
        cmd += ["--set", item]
    return cmd


def beside(run_dir: Path, suffix: str) -> Path:
    """`<run>.sbatch`, `<run>.slurm-%j.out`: the run folder itself must stay empty for `pinnrun train`."""
    return run_dir.with_name(run_dir.name + suffix)


def batch_script(job: BatchJob, name: str, run_dir: Path, train: list[str]) -> str:
    output = beside(run_dir, ".slurm-%j.out")
    lines = [
        "#!/bin/bash",
        f"# Written by `pinnrun sbatch`: {name} on {job.nodes} node(s) x {job.ntasks_per_node} rank(s).",
        f"# Results: {run_dir}",
        "# Stop it cleanly (every rank at its next chunk, with a final checkpoint):",
        "#   scancel --batch --signal=TERM JOBID",
        "# A plain `scancel JOBID` stops every rank at once. Either way the run says interrupted and",
        f"# continues with: pinnrun train --resume {run_dir}",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --nodes={job.nodes}",
        f"#SBATCH --ntasks-per-node={job.ntasks_per_node}",
    ]
    if job.gpus_per_node is not None:
        lines.append(f"#SBATCH --gpus-per-node={job.gpus_per_node}")
    if job.time is not None:
        lines.append(f"#SBATCH --time={job.time}")
    if job.partition is not None:
        lines.append(f"#SBATCH --partition={job.partition}")
    if job.account is not None:
        lines.append(f"#SBATCH --account={job.account}")
    lines += [
        # '%' starts a SLURM file name pattern (%j: the job id): the folder's own '%' are doubled
        f'#SBATCH --output="{str(output.parent).replace("%", "%%")}/{output.name}"',
        f"#SBATCH --signal=B:TERM@{SIGNAL_LEAD}",
        "",
        "# pinnrun takes the hosts, ranks and GPUs from the allocation; exec: SLURM's signals reach it",
        "exec " + " ".join(shlex.quote(part) for part in train),
        "",
    ]
    return "\n".join(lines)


def sbatch(
    spec_path: str, overrides: list[str], job: BatchJob, out: str | None, dry_run: bool, console: Console
) -> int:
    from pinnrun.problem.build import load_problem

    check_job(job)
    loaded, _ = load_problem(spec_path, overrides)  # every check `pinnrun train` makes before anything runs
    name = loaded.spec.name
    if out is not None:
        run_dir = check_out(out)
        if not run_dir.name:
            raise PinnrunError(f"--out {out}: not a folder name")
    else:
        run_dir = Path(os.path.abspath("runs")) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if _UNQUOTABLE.search(str(run_dir)):
        raise PinnrunError(
            f"--out {run_dir}: SLURM's log beside it goes on an #SBATCH line, which cannot carry "
            "'\"', '\\' or control characters; choose another folder"
        )
    spec = Path(os.path.abspath(spec_path))
    for note in gpu_notes(job):  # on stderr: a dry run's stdout is the script alone (`> job.sh`)
        Console(stderr=True).print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)
    if dry_run:
        sys.stdout.write(batch_script(job, name, run_dir, train_command(spec, run_dir, overrides)))
        return 0
    if shutil.which("sbatch") is None:
        raise PinnrunError(
            "sbatch not found: submit from a machine with SLURM's commands (--dry-run prints the batch script)"
        )
    script_path, run_dir = _write_script(job, name, run_dir, spec, overrides, explicit=out is not None)
    try:
        done = subprocess.run(
            ["sbatch", "--parsable", str(script_path)],
            capture_output=True,
            text=True,
            timeout=SUBMIT_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        script_path.unlink(missing_ok=True)
        raise PinnrunError(f"sbatch did not answer within {SUBMIT_TIMEOUT} s; nothing submitted") from None
    job_id = done.stdout.strip().split(";")[0]
    if done.returncode != 0 or not job_id.isdigit():
        script_path.unlink(missing_ok=True)
        said = (
            "; ".join(line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip())
            or f"exit status {done.returncode}"
        )
        raise PinnrunError(f"sbatch refused the job: {one_line(said)}")
    console.print(
        f"submitted job {job_id}: {escape(name)} on {job.nodes} node(s) x {job.ntasks_per_node} rank(s)",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"run folder: {escape(str(run_dir))}", highlight=False, soft_wrap=True)
    console.print(
        f"batch script: {escape(str(script_path))}; SLURM's log: "
        f"{escape(str(beside(run_dir, f'.slurm-{job_id}.out')))}",
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _write_script(
    job: BatchJob, name: str, run_dir: Path, spec: Path, overrides: list[str], explicit: bool
) -> tuple[Path, Path]:
    """Write `<run>.sbatch`, created exclusively: two submissions in the same second do not share
    a run folder (a default folder gets -1, -2, ... as `pinnrun train` names its own)."""
    for n in range(1000):
        folder = run_dir if explicit or n == 0 else run_dir.with_name(f"{run_dir.name}-{n}")
        if not explicit and folder.exists():
            continue
        path = beside(folder, ".sbatch")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o755)
        except FileExistsError:
            if explicit:
                raise PinnrunError(
                    f"--out {run_dir}: {path} exists: this run folder was submitted already; choose a new folder"
                ) from None
            continue
        with os.fdopen(fd, "w") as f:
            f.write(batch_script(job, name, folder, train_command(spec, folder, overrides)))
        return path, folder
    raise PinnrunError(f"cannot name a run folder: 1000 folders named {run_dir.name}[-n] were submitted")
