"""How the launcher asks every rank to stop cleanly: a file in the run folder.

A signal to `pinnrun train` (Ctrl-C, SIGTERM from `timeout`/systemd/CI, SIGHUP) must
stop every rank at the same step, with a final checkpoint. Launchers forward
signals differently (mpirun kills, horovodrun and srun each their own way), so the
launcher writes STOP instead; each rank looks for it at every chunk boundary and
the ranks agree (one collective) to stop after that chunk. A file works with every
launcher and, on a shared run folder, on every host.
"""

from __future__ import annotations

import os
from pathlib import Path

STOP = "stop-request"


def request_stop(run_dir: Path, signal_name: str) -> None:
    """Ask the ranks to stop; the first request's signal is the one reported."""
    path = Path(run_dir) / STOP
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(signal_name + "\n")


def requested_stop(run_dir: Path) -> str | None:
    """The signal's name (e.g. 'SIGTERM') if a stop was requested, else None."""
    try:
        text = (Path(run_dir) / STOP).read_text(errors="replace").strip()
    except FileNotFoundError:
        return None
    except OSError:
        return "a stop request"  # present but unreadable: still a request
    return text[:32] or "a stop request"
