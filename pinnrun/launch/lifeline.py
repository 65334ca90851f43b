"""No rank outlives its launcher: two layers, because `kill -9` of `pinnrun train` leaves
no chance to clean up.

1. The launcher's child (mpirun, gloo_local, horovodrun, srun, or the one worker) gets
   PR_SET_PDEATHSIG: the kernel signals it when the launcher dies.
2. Each rank runs a watch thread: when its parent process changes (the parent died and
   the rank was re-parented), the rank stops itself; rank 0 first records the run as
   dead unless a summary exists. The same thread writes the rank's heartbeat, which the
   launcher watches for hung ranks (launch/hang_watch.py).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import threading
import time
from pathlib import Path

from pinnrun.results.files import SUMMARY
from pinnrun.results import strict_json
from pinnrun.results.heartbeat import write_beat
from pinnrun.results.last_good import last_good_checkpoint
from pinnrun.results.launcher_record import launcher_gone, read_launcher

PR_SET_PDEATHSIG = 1
BEAT_SECONDS = 1.0  # a beat costs ~25 us (results/heartbeat.py): nothing next to a second
LAUNCHER_GONE_EXIT = 97  # a rank that stopped itself because its launcher died
DEAD_REASON = "the launcher died (ranks stopped themselves)"


def die_with_parent(sig: int = signal.SIGKILL):
    """A preexec_fn for subprocess.Popen: the child gets `sig` when this process dies.
    (The kernel sends it when the thread that forked exits: start children from the main thread.)"""
    parent = os.getpid()

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(LAUNCHER_GONE_EXIT)

    return preexec


def watch_launcher(run_dir: Path, rank: int) -> threading.Thread:
    """Start the rank's watch thread (a daemon: it never keeps a finished rank alive). At a normal
    exit the rank's last beat says `ended`, so a rank done before the others is not taken for hung."""
    watch = _Watch(Path(run_dir), rank, socket.gethostname(), os.getppid())
    thread = threading.Thread(target=watch.run, name="pinnrun-lifeline", daemon=True)
    thread.start()
    atexit.register(watch.end)
    return thread


class _Watch:
    def __init__(self, run_dir: Path, rank: int, host: str, parent: int):
        self.run_dir, self.rank, self.host, self.parent = run_dir, rank, host, parent
        self.lock = threading.Lock()  # the last beat is never followed by an ordinary one
        self.ended = False

    def run(self) -> None:
        count = 0
        while True:
            if os.getppid() != self.parent:
                if self.rank == 0:
                    record_dead(self.run_dir)
                os._exit(LAUNCHER_GONE_EXIT)
            with self.lock:
                if self.ended:
                    return
                self._beat(count, ended=False)
            count += 1
            time.sleep(BEAT_SECONDS)

    def end(self) -> None:
        with self.lock:
            self.ended = True
            self._beat(0, ended=True)

    def _beat(self, count: int, ended: bool) -> None:
        try:
            write_beat(self.run_dir, self.rank, self.host, count, ended)
        except OSError:
            pass  # a full disk or a vanished folder: the launcher decides what a missing beat means


def launcher_died(run_dir: Path) -> bool:
    """True when launcher.json names a launcher on this host that is gone. For a rank stopped by a
    signal: under horovodrun the signal (SIGTERM from horovodrun's helper) is how the launcher's
    death reaches it, before the watch thread sees its parent change."""
    record = read_launcher(Path(run_dir))
    return record is not None and launcher_gone(record) is True


def record_dead(run_dir: Path) -> None:
    """summary.json says dead, unless a summary exists already (never overwrites: link, not rename)."""
    path = run_dir / SUMMARY
    tmp = path.with_name(f".{SUMMARY}.dead.{os.getpid()}.tmp")
    try:
        tmp.write_text(
            strict_json.strict_json(
                {"status": "dead", "reason": DEAD_REASON, **last_good_checkpoint(run_dir)}, indent=2
            )
            + "\n"
        )
        os.link(tmp, path)
    except OSError:  # FileExistsError included: a summary was written first
        pass
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
