"""`python -m pinnrun.launch.gloo_local NP CMD...`: NP ranks of CMD on this host,
joined by Horovod's own Gloo rendezvous server.

What `horovodrun --gloo -H localhost:NP` does, without its start-up cost:
before starting any rank, horovodrun imports every framework in a forked
process to check Horovod's build (seconds: a whole TensorFlow import). Here
the ranks get the same environment from the same rendezvous server, their
output the same `[rank]<stdout>:` prefixes, and the job the same rules: the
first rank to fail stops the others, SIGINT / SIGTERM / SIGHUP reach every
rank, and the exit status is the first failing rank's. Ranks whose launcher
dies stop themselves (launch/lifeline.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

GRACE_SECONDS = 10  # after a stop, ranks stuck in a collective are killed


def rank_environments(slots, port: int) -> list[dict[str, str]]:
    common = {
        "HOROVOD_GLOO_RENDEZVOUS_ADDR": "127.0.0.1",
        "HOROVOD_GLOO_RENDEZVOUS_PORT": str(port),
        "HOROVOD_CONTROLLER": "gloo",
        "HOROVOD_CPU_OPERATIONS": "gloo",
        "HOROVOD_GLOO_IFACE": "lo",
        "NCCL_SOCKET_IFNAME": "lo",
    }
    return [
        common
        | {
            "HOROVOD_HOSTNAME": slot.hostname,
            "HOROVOD_RANK": str(slot.rank),
            "HOROVOD_SIZE": str(slot.size),
            "HOROVOD_LOCAL_RANK": str(slot.local_rank),
            "HOROVOD_LOCAL_SIZE": str(slot.local_size),
            "HOROVOD_CROSS_RANK": str(slot.cross_rank),
            "HOROVOD_CROSS_SIZE": str(slot.cross_size),
        }
        for slot in slots
    ]


def _forward(stream, rank: int, name: str, lock: threading.Lock) -> None:
    for line in iter(stream.readline, b""):
        with lock:
            sys.stdout.buffer.write(f"[{rank}]<{name}>:".encode() + line)
            sys.stdout.buffer.flush()


def run(np: int, cmd: list[str]) -> int:
    from horovod.runner.common.util.hosts import get_host_assignments, parse_hosts
    from horovod.runner.http.http_server import RendezvousServer

    slots = get_host_assignments(parse_hosts(f"localhost:{np}"), np)
    server = RendezvousServer(verbose=0)
    port = server.start()
    server.init(slots)
    lock = threading.Lock()
    procs, readers = [], []
    stopped = []  # a signal before every rank started: the grace below stops the late ones

    def stop(signum, frame):
        stopped.append(time.monotonic())
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a closed terminal too
        signal.signal(sig, stop)

    for rank, env in enumerate(rank_environments(slots, port)):
        p = subprocess.Popen(
            cmd, env=os.environ | env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        procs.append(p)
        readers += [
            threading.Thread(target=_forward, args=(s, rank, n, lock), daemon=True)
            for s, n in ((p.stdout, "stdout"), (p.stderr, "stderr"))
        ]
    for t in readers:
        t.start()

    status = 0
    pending = set(range(np))
    while pending:
        if stopped and time.monotonic() - stopped[0] > GRACE_SECONDS:
            for rank in pending:
                procs[rank].kill()
        for rank in sorted(pending):
            try:
                code = procs[rank].wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            pending.discard(rank)
            if code != 0 and status == 0:
                status = code if code > 0 else 128 - code  # killed by a signal: the shell's 128+N
                # the rank that ended the job, as mpirun says it (launch/rank_exit.py reads it back)
                print(f"gloo_local: rank {rank} on {socket.gethostname()} exited with status {code}", flush=True)
                stop(signal.SIGTERM, None)  # one rank gone: the others would wait for it forever
    for t in readers:
        t.join(timeout=5)
    server.stop()
    return status


if __name__ == "__main__":
    sys.exit(run(int(sys.argv[1]), sys.argv[2:]))
