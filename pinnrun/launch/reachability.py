"""After a job across hosts failed: is one of its hosts cut off?

A host whose network failed takes the job down in ways that blame the survivors
(Gloo: rank 0 timed out waiting for a receive; both ranks then say Horovod shut down).
Every host of the job runs sshd (the launchers reached it through ssh), so a host that
no longer accepts a connection on its ssh port is the likely cause, and the run says so.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

from pinnrun.launch.network import LOCAL_NAMES

PROBE_SECONDS = 3.0  # a host on the same network answers in milliseconds


def unreachable_hosts(names: list[str], port: int | None, timeout: float = PROBE_SECONDS) -> list[str]:
    """The hosts among `names` (this one left out) that accept no TCP connection on `port`
    (ssh's, 22 by default) within `timeout` seconds, probed side by side."""
    others = [name for name in names if name not in LOCAL_NAMES and name != socket.gethostname()]
    if not others:
        return []
    with ThreadPoolExecutor(max_workers=min(32, len(others))) as pool:
        answered = list(pool.map(lambda name: _answers(name, port or 22, timeout), others))
    return [name for name, ok in zip(others, answered) if not ok]


def _answers(name: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((name, port), timeout=timeout):
            return True
    except OSError:
        return False


def lost_hosts_reason(lost: list[str], port: int | None) -> str:
    which = f"host {lost[0]}" if len(lost) == 1 else f"hosts {', '.join(lost)}"
    return (
        f"lost contact with {which}: no answer on the ssh port ({port or 22}) within {PROBE_SECONDS:.0f} s "
        "(the network to it failed, or the host went down)"
    )
