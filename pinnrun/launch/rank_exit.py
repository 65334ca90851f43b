"""Which rank ended the job, from what the launchers print when a rank dies without a word
(`kill -9`, the OOM killer): no failure record of its own, only the launcher's line."""

from __future__ import annotations

import re
import signal

# mpirun: "mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed)."
# horovodrun: "Process 1 exit with status code 137."; pinnrun's Gloo launcher (launch/gloo_local.py):
# "gloo_local: rank 1 on vm exited with status -9".
PATTERNS = (
    re.compile(r"process rank (?P<rank>\d+) with PID \d+ on node (?P<host>\S+) exited on signal (?P<signal>\d+)"),
    re.compile(r"gloo_local: rank (?P<rank>\d+) on (?P<host>\S+) exited with status (?P<status>-?\d+)"),
    re.compile(r"Process (?P<rank>\d+) exit with status code (?P<status>-?\d+)"),
)

# srun, for every task that did not end well, in the order it learns of them: "srun: error: b: task 1:
# Killed" (the C library's name of the signal, strsignal(3), maybe with " (core dumped)"), "srun: error:
# b: task 1: Exited with exit code 2", "srun: error: a: tasks 0-3: Killed" (slurm 22.05, launch/slurm).
SRUN_TASK_ENDED = re.compile(
    r"^srun: error: (?P<host>[^:\s]+): tasks? (?P<rank>\d+)[-,\d]*: "
    r"(?P<what>.+?)(?: \(core dumped\))?$",
    re.MULTILINE,
)
SRUN_EXIT = re.compile(r"Exited with exit code (?P<status>\d+)")
SIGNAL_BY_DESCRIPTION = {signal.strsignal(s): s for s in signal.Signals if signal.strsignal(s)}


# horovodrun starts a remote rank through ssh, which exits 255 both when the rank was killed by a
# signal (OpenSSH passes on no signal number) and when the connection failed.
SSH_FAILED = 255

# horovodrun's elastic driver, when fewer than --min-np ranks are left for --elastic-timeout seconds
ELASTIC_TIMEOUT = re.compile(
    r"enough resources to run at least (?P<ranks>\d+) Horovod processes\. "
    r"Timeout after (?P<seconds>\d+) seconds"
)


# mpirun, when its daemon on another host stopped answering (keepalive: launch/faults.py)
HOST_LOST = re.compile(
    r"ORTE has lost communication with a remote daemon\.[\s\S]{0,400}?"
    r"Remote daemon: \[\[\d+,\d+\],\d+\] on node (?P<host>\S+)"
)


def host_lost(log_text: str) -> str | None:
    m = HOST_LOST.search(log_text)
    return (
        None
        if m is None
        else (
            f"lost contact with host {m['host']}: mpirun's daemon there stopped answering "
            "(the network to it failed, or the host went down)"
        )
    )


def rank_exit(log_text: str, hosts: dict[int, str] | None = None) -> str | None:
    """'rank 1 on vm was killed by SIGKILL' (or 'exited with status N'), the first the log names;
    under elastic training, why the job could not go on without it. `hosts` (rank -> host, from
    the ranks' heartbeats) names the host where the launcher's line does not (horovodrun)."""
    lost = host_lost(log_text) or _srun_task_exit(log_text, hosts or {}) or _rank_exit(log_text, hosts or {})
    m = ELASTIC_TIMEOUT.search(log_text)
    if m is None:
        return lost
    return f"elastic: fewer than {m['ranks']} ranks (--min-np) for {m['seconds']} s (--elastic-timeout)" + (
        f" after {lost}" if lost else ""
    )


def _rank_exit(log_text: str, hosts: dict[int, str]) -> str | None:
    for pattern in PATTERNS:
        m = pattern.search(log_text)
        if m is None:
            continue
        host = m["host"] if "host" in pattern.groupindex else hosts.get(int(m["rank"]))
        where = f"rank {m['rank']}" + (f" on {host}" if host else "")
        if "signal" in pattern.groupindex:
            return f"{where} was killed by {_signal_name(int(m['signal']))}"
        status = int(m["status"])
        if status == SSH_FAILED and host:
            return f"{where} was lost: killed by a signal, or the connection to {host} broke (ssh's status 255)"
        if status < 0 or 128 < status < 128 + 65:  # killed: Popen gives -N, a shell 128+N
            return f"{where} was killed by {_signal_name(-status if status < 0 else status - 128)}"
        return f"{where} exited with status {status}"
    return None


def _srun_task_exit(log_text: str, hosts: dict[int, str]) -> str | None:
    """srun's first word about a task, when it is a rank that a signal ended (kill -9, the OOM killer).
    A rank that exited with a status said why itself (failures/) or only saw the job go down, and the
    ranks killed after the first are not the news: None for both."""
    m = SRUN_TASK_ENDED.search(log_text)
    if m is None or SRUN_EXIT.fullmatch(m["what"]):
        return None
    # tasks on several hosts come with a host list ("a,b", "n[1-2]"): the ranks' heartbeats say which
    host = m["host"] if "," not in m["host"] and "[" not in m["host"] else hosts.get(int(m["rank"]))
    where = f"rank {m['rank']}" + (f" on {host}" if host else "")
    number = SIGNAL_BY_DESCRIPTION.get(m["what"])
    return f"{where} was killed by {_signal_name(number)}" if number else f"{where} ended: {m['what']}"


def srun_rank_killed(log_text: str) -> bool:
    """srun says a task ended by a signal. The others may wait for it in an all-reduce forever (its
    heartbeat stops, so the hang watch ends the job after --hang-timeout); killing the step at once
    ends it in about a second (launch/job_watch.py)."""
    return any(not SRUN_EXIT.fullmatch(m["what"]) for m in SRUN_TASK_ENDED.finditer(log_text))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
