"""Commands on other hosts for `pinnrun doctor --hosts`: ssh argument lists, bounded runs, and what
an ssh failure means with its fix.

ssh joins the words after the host name into one line for the remote shell, so every word is
quoted here; locally nothing goes through a shell. A host named localhost runs the same words
here without ssh, as `pinnrun train` starts local ranks without it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass

from pinnrun.launch.network import LOCAL_NAMES

CONNECT_TIMEOUT_S = 5  # ssh's own bound on reaching a host: a dead host costs this, not TCP's minutes
# BatchMode: no password or host-key prompt can wait for a terminal (mpirun and horovodrun have none).
SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}"]
KILL_GRACE_S = 3  # after a timeout: SIGTERM (mpirun then stops its remote daemons), then SIGKILL


@dataclass(frozen=True)
class Ran:
    returncode: int | None  # None: killed at the time limit
    stdout: str
    stderr: str
    seconds: float


def on_host(host: str, words: list[str], port: int | None = None) -> list[str]:
    """The argument list that runs `words` on `host`."""
    if host in LOCAL_NAMES:
        return list(words)
    port_option = ["-p", str(port)] if port else []
    # '--' so that no host name can be read as an option (cluster.py refuses a leading '-' too)
    return ["ssh", *SSH_OPTIONS, *port_option, "--", host, *(shlex.quote(w) for w in words)]


def run_bounded(argv: list[str], timeout: float, env: dict[str, str] | None = None, stdin: str | None = None) -> Ran:
    """Run argv (no shell) in its own process group; at `timeout` the whole group is stopped."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        return Ran(127, "", f"{argv[0]}: {exc.strerror or exc}", 0.0)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        stop_group(proc)
        out, err = proc.communicate()
        code = None
    return Ran(code, out or "", err or "", time.monotonic() - started)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL what is left after KILL_GRACE_S."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def ssh_problem(host: str, ran: Ran, port: int | None, timeout: float) -> tuple[str, str]:
    """(what went wrong, the fix) for a failed `ssh HOST true`."""
    said = last_line(ran.stderr) or last_line(ran.stdout)
    via = f"ssh {'-p ' + str(port) + ' ' if port else ''}{host}"
    if ran.returncode is None:
        return (
            f"{via}: no answer in {timeout:g} s",
            f"check that {host} is up and its network link works (ssh -v {host} true shows where it stops)",
        )
    if "Could not resolve hostname" in said or "Name or service not known" in said:
        return (
            said,
            f"check the name '{host}': it must resolve on this host (/etc/hosts, DNS, "
            "or a Host entry in ~/.ssh/config)",
        )
    if "Permission denied" in said:
        return (
            said,
            f"set up key login without a password: ssh-keygen, then ssh-copy-id {host} "
            "(launchers cannot type a password)",
        )
    if "Host key verification failed" in said:
        return (said, f"accept {host}'s host key once: ssh {host} true (or add it to ~/.ssh/known_hosts)")
    if "Connection refused" in said:
        return (said, f"start sshd on {host}, or give its port: ssh_port in a cluster spec")
    if any(s in said for s in ("timed out", "No route to host", "Network is unreachable", "Connection closed")):
        return (
            said,
            f"check that {host} is up and its network link works, and that its name points to the right address",
        )
    return (said or f"{via} exited {ran.returncode}", f"run ssh -v {host} true to see why")
