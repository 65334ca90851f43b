"""Live all-reduces across the hosts for `pinnrun doctor --hosts`.

Two short jobs, each through the command `pinnrun train` itself builds (launch/command.py), with
the training worker swapped for remote.py: mpirun with mpi4py (Open MPI and the network
alone), and Horovod through the launcher a training would use (horovodrun with Gloo unless the
cluster spec says otherwise). Rank r adds r+1; rank 0 says the sum and the host of every rank.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from pathlib import Path

from pinnrun.doctor.local import Check
from pinnrun.doctor.remote import read_marked
from pinnrun.doctor.ssh import Ran, run_bounded
from pinnrun.errors import PinnrunError, one_line
from pinnrun.launch.cluster import Cluster, Host
from pinnrun.launch.command import build_command, plan_launch, printable, shell_safe_environment, worker_command

MPI_TIMEOUT_S = 30  # measured on the test cluster: 3 ranks on 3 hosts in about 1 s
HOROVOD_TIMEOUT_S = 60  # measured on the test cluster: 3 ranks on 3 hosts in about 10 s (TensorFlow's import)
_PLACEHOLDER = Path("doctor")
# What a launcher says when it fails; the first such line is shown (launchers print banners of dashes).
_TELLING = re.compile(
    r"error|fail|unable|refused|timed out|timeout|no route|unreachable|not found|cannot|"
    r"denied|abort|killed|exited|no such",
    re.IGNORECASE,
)
_RANK_PREFIX = re.compile(r"^\[[\d,]+\]<\w+>:\s*")


def job_argv(hosts: list[Host], cluster: Cluster, launcher: str | None, program: list[str]) -> tuple[list[str], dict]:
    """The launch command train would build for `hosts`, running `program` instead of the worker,
    and the variables it exports."""
    plan = plan_launch(hosts=hosts, launcher=launcher, cluster=cluster)
    cmd = build_command(plan, _PLACEHOLDER)
    worker = worker_command(_PLACEHOLDER)
    assert cmd[-len(worker) :] == worker, cmd  # the worker is always the command's tail
    return cmd[: -len(worker)] + program, dict(plan.env)


def launcher_of(hosts: list[Host], cluster: Cluster) -> tuple[str, str]:
    """(launcher, controller) a training on `hosts` would use."""
    plan = plan_launch(hosts=hosts, cluster=cluster)
    return plan.launcher, plan.controller


MPI_CHECK = "mpi4py all-reduce"
HOROVOD_CHECK = "Horovod all-reduce"


def mpi_allreduce(hosts: list[Host], cluster: Cluster, expected: Counter) -> Check:
    name = MPI_CHECK
    program = [sys.executable, "-m", "pinnrun.doctor.remote", "allreduce"]
    try:
        argv, env = job_argv(hosts, cluster, "mpirun", program)
    except PinnrunError as err:
        return Check(name, "missing", f"no command: {err}", fix="fix the cluster spec or --hosts")
    return _judge(name, "mpirun", argv, env, MPI_TIMEOUT_S, expected)


def horovod_allreduce(hosts: list[Host], cluster: Cluster, expected: Counter) -> Check:
    launcher, controller = launcher_of(hosts, cluster)
    name = HOROVOD_CHECK
    if launcher == "srun":
        return Check(name, "warn", "not run: srun starts ranks only inside a Slurm allocation", required=False)
    program = [sys.executable, "-m", "pinnrun.doctor.remote", "horovod"]
    try:
        argv, env = job_argv(hosts, cluster, None, program)
    except PinnrunError as err:
        return Check(name, "missing", f"no command: {err}", fix="fix the cluster spec or --hosts")
    via = f"{launcher}, {controller}" if launcher in ("horovodrun", "mpirun") else launcher
    return _judge(name, via, argv, env, HOROVOD_TIMEOUT_S, expected)


def _judge(name: str, via: str, argv: list[str], env: dict[str, str], timeout: float, expected: Counter) -> Check:
    """Run the job; ok if rank 0 says the right sum and the ranks ran where they were placed."""
    full_env = shell_safe_environment(os.environ | {"PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"} | env)
    ran = run_bounded(argv, timeout, env=full_env)
    fix = (
        "name the network the hosts share: network_interface in a cluster spec; the launcher's whole "
        f"output: {printable(argv, env)}"
    )
    result = _result(ran.stdout)
    ranks = sum(expected.values())
    if result is None:
        why = f"no result in {timeout:g} s" if ran.returncode is None else f"exited {ran.returncode}"
        said = telling_line(ran)
        return Check(name, "missing", f"{via}: {why}{': ' + said if said else ''}", fix=fix)
    want = ranks * (ranks + 1) // 2
    got_hosts = Counter(map(str, result.get("hosts", [])))
    if result.get("size") != ranks or result.get("sum") != want:
        return Check(
            name,
            "missing",
            f"{via}: {result.get('size')} ranks summed to {result.get('sum')}, expected {ranks} ranks and {want}",
            fix=fix,
        )
    if got_hosts != expected:
        return Check(
            name,
            "missing",
            f"{via}: ranks ran on {_counted(got_hosts)}, expected {_counted(expected)}",
            fix="check that each host name reaches the host it names (ssh HOST hostname)",
        )
    return Check(name, "ok", f"{via}: {ranks} ranks on {_counted(got_hosts)} summed to {want} in {ran.seconds:.1f} s")


def _counted(hosts: Counter) -> str:
    return ", ".join(f"{h}:{n}" for h, n in sorted(hosts.items()))


def _result(stdout: str) -> dict | None:
    return next(filter(None, map(read_marked, stdout.splitlines())), None)


def telling_line(ran: Ran) -> str:
    """The launcher's line that says what failed: the first sentence of Open MPI's first message
    (set between lines of dashes), a Python exception's own line, the first line that reads like
    an error, else the last line."""
    lines = [_RANK_PREFIX.sub("", line).strip() for line in (ran.stderr + "\n" + ran.stdout).splitlines()]
    rules = [i for i, line in enumerate(lines) if _DASHES.fullmatch(line)]
    if len(rules) >= 2:
        sentence = []
        for line in filter(None, lines[rules[0] + 1 : rules[1]]):
            sentence.append(line)
            if line.endswith((".", ":")):
                break
        return one_line(" ".join(sentence))
    # a line may run into a following banner of dashes (no newline between them)
    text = [_DASHES.sub("", line).strip() for line in lines]
    text = [line for line in text if line]
    starts = [i for i, line in enumerate(text) if line.startswith("Traceback (most recent call last)")]
    if starts:
        exception = next((line for line in text[starts[-1] + 1 :] if _EXCEPTION.match(line)), None)
        if exception:
            return one_line(exception)
    return one_line(next((line for line in text if _TELLING.search(line)), text[-1] if text else ""))


_DASHES = re.compile(r"-{20,}")
_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")
