"""Each failing rank's own reason, so the job reports the rank that failed first.

When one rank raises, the others only see the job go down (rank 0: "Horovod has been shut
down"), and the launcher may kill them before they write anything. So every rank that fails
writes failures/rank-<r>.json itself, and the launcher reads them back after the job ended.
"""

from __future__ import annotations

import time
from pathlib import Path

from pinnrun.results import strict_json
from pinnrun.results.recorder import write_json

FAILURES = "failures"


def record_failure(run_dir: Path, rank: int, reason: str) -> None:
    """Best effort: a rank that cannot write its reason still fails with it in worker.log."""
    folder = Path(run_dir) / FAILURES
    try:
        folder.mkdir(exist_ok=True)
        write_json(folder / f"rank-{rank}.json", {"rank": rank, "reason": reason, "time": time.time()})
    except OSError:
        pass


# What a rank says when another rank's end took the job down with it (Horovod after a peer died:
# the MPI and Gloo controllers; Gloo's transport when the peer's socket closed). Horovod's message
# twice over: a long TensorFlow traceback in front can cut its start out of the recorded reason.
KNOCK_ON = (
    "Horovod has been shut down",
    "attempt to allreduce, allgather or broadcast a tensor after one of the ranks finished execution",
    "Connection closed by peer",
    "Connection reset by peer",
)


def knock_on(reason: str) -> bool:
    """True when a rank's reason says only that the job went down around it."""
    return any(words in reason for words in KNOCK_ON)


def rank_failures(run_dir: Path) -> list[dict]:
    """Every readable failure record, earliest first."""
    found = []
    for path in sorted((Path(run_dir) / FAILURES).glob("rank-*.json")):
        try:
            record = strict_json.loads(path.read_text(errors="replace"))
        except (OSError, ValueError, RecursionError):
            continue
        if (
            isinstance(record, dict)
            and isinstance(record.get("rank"), int)
            and isinstance(record.get("reason"), str)
            and isinstance(record.get("time"), (int, float))
        ):
            found.append(record)
    return sorted(found, key=lambda r: (r["time"], r["rank"]))
