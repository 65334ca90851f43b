"""Whether every host reaches every other host on the network the ranks will use.

Each host starts a short-lived listener on its own address in that network (remote.py
`mesh`), on a port the kernel picks as the ranks' transports do; then each host connects to every
other host's listener. A listener answers with its host's token, so a connection that lands on
the wrong host (the same address on every host, as docker0's 172.17.0.1) is caught, not counted
as reached. One ssh session per host; every step has a deadline.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pinnrun.doctor.remote import read_marked
from pinnrun.doctor.ssh import on_host, stop_group

# ssh (5 s at most to connect) plus Python's start, then each connect (3 s at most) in parallel.
MESH_TIMEOUT_S = 20
MAX_PARALLEL = 32


@dataclass
class Mesh:
    network: str
    listening: dict[str, tuple[str, int]] = field(default_factory=dict)  # host -> (address, port)
    failed: dict[str, str] = field(default_factory=dict)  # host -> why it took no part
    no_address: set[str] = field(default_factory=set)  # hosts without an address on it
    shared_address: set[str] = field(default_factory=set)  # hosts whose address another has
    answers: dict[str, dict[str, str]] = field(default_factory=dict)  # host -> target -> what answered

    def problems_of(self, host: str) -> list[str]:
        """What did not work to and from `host`, one phrase each (empty: all reached)."""
        if host in self.failed:
            return [self.failed[host]]
        out = []
        for target, said in self.answers.get(host, {}).items():
            if said != "ok":
                out.append(f"cannot reach {target} at {_where(self.listening[target])}: {said}")
        for source, answers in self.answers.items():
            said = answers.get(host)
            if said is not None and said != "ok":
                out.append(f"not reachable from {source} at {_where(self.listening[host])}: {said}")
        return out


def _where(listener: tuple[str, int]) -> str:
    return f"{listener[0]}:{listener[1]}"


def _read_marked(proc: subprocess.Popen) -> dict | None:
    """The next MARK line from the host, or None at its end."""
    for line in proc.stdout:
        found = read_marked(line)
        if found is not None:
            return found
    return None


def _ended(proc: subprocess.Popen) -> str:
    """Why a host's session ended without its answer."""
    try:
        proc.wait(timeout=1)
    except subprocess.TimeoutExpired:
        return f"no answer in {MESH_TIMEOUT_S} s"
    said = [line.strip() for line in (proc.stderr.read() if proc.stderr else "").splitlines() if line.strip()]
    if proc.returncode in (-9, -15):
        return f"no answer in {MESH_TIMEOUT_S} s"
    return said[-1] if said else f"the check exited {proc.returncode}"


def run_mesh(hosts: list[str], network: str, python: str, port: int | None) -> Mesh:
    """Listen on every host, connect from every host to every other; the outcome per host."""
    mesh = Mesh(network)
    tokens = {host: secrets.token_hex(8) for host in hosts}
    owner = {token: host for host, token in tokens.items()}
    procs: dict[str, subprocess.Popen] = {}
    watchdogs = []
    for host in hosts:
        words = [python, "-m", "pinnrun.doctor.remote", "mesh", network, tokens[host], str(MESH_TIMEOUT_S + 5)]
        try:
            procs[host] = subprocess.Popen(
                on_host(host, words, port),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        except OSError as exc:
            mesh.failed[host] = f"could not start ssh: {exc.strerror or exc}"
            continue
        watchdog = threading.Timer(MESH_TIMEOUT_S, stop_group, args=(procs[host],))
        watchdog.daemon = True
        watchdog.start()
        watchdogs.append(watchdog)
    try:
        with ThreadPoolExecutor(MAX_PARALLEL) as pool:
            _listen(mesh, procs, pool)
            _connect(mesh, procs, pool, owner)
    finally:
        for host, proc in procs.items():
            _close(proc)
        for watchdog in watchdogs:
            watchdog.cancel()
    return mesh


def _listen(mesh: Mesh, procs: dict[str, subprocess.Popen], pool: ThreadPoolExecutor) -> None:
    firsts = dict(zip(procs, pool.map(_read_marked, procs.values())))
    seen: dict[str, str] = {}
    for host, first in firsts.items():
        if first is None:
            mesh.failed[host] = _ended(procs[host])
        elif "error" in first:
            mesh.failed[host] = str(first["error"])
            mesh.no_address.add(host)
        else:
            address = str(first["address"])
            if address in seen:  # both would answer for one address: neither is reachable by it
                mesh.failed[host] = f"its address {address} on {mesh.network} is {seen[address]}'s too"
                mesh.failed.setdefault(seen[address], f"its address {address} on {mesh.network} is {host}'s too")
                mesh.shared_address.update((host, seen[address]))
            seen.setdefault(address, host)
            mesh.listening[host] = (address, int(first["port"]))
    for host in mesh.failed:
        mesh.listening.pop(host, None)


def _connect(mesh: Mesh, procs: dict[str, subprocess.Popen], pool: ThreadPoolExecutor, owner: dict[str, str]) -> None:
    for host in mesh.listening:
        targets = [{"host": t, "address": a, "port": p} for t, (a, p) in mesh.listening.items() if t != host]
        try:
            procs[host].stdin.write(json.dumps(targets) + "\n")
            procs[host].stdin.flush()
        except OSError:
            pass  # its session ended: _read_marked finds no answer
    talking = [h for h in mesh.listening]
    for host, said in zip(talking, pool.map(lambda h: _read_marked(procs[h]), talking)):
        if said is None:
            mesh.failed[host] = _ended(procs[host])
            continue
        mesh.answers[host] = {target: _judge(reply, target, owner) for target, reply in said["answers"].items()}


def _judge(reply: str, target: str, owner: dict[str, str]) -> str:
    if reply.startswith("error: "):
        return reply.removeprefix("error: ")
    answered = owner.get(reply)
    if answered == target:
        return "ok"
    if answered is not None:
        return f"{answered} answered instead (one address on several hosts)"
    return "something else answered (not the doctor's listener)"


def _close(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        stop_group(proc)
