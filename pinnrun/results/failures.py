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


def rank_failures(run_dir: Path) -> list[dict]:
    """Every readable failure record, earliest first."""
    found = []
    for path in sorted((Path(run_dir) / FAILURES).glob("rank-*.json")):
        try:
            record = strict_json.loads(path.read_text(errors="replace"))
        except (OSError, ValueError, RecursionError):
            continue
        if (isinstance(record, dict) and isinstance(record.get("rank"), int) and isinstance(record.get("reason"), str)
                and isinstance(record.get("time"), (int, float))):
            found.append(record)
    return sorted(found, key=lambda r: (r["time"], r["rank"]))
