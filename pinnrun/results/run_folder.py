"""Creating a run folder without ever overwriting an earlier run."""
from __future__ import annotations

import time
from pathlib import Path

from pinnrun.errors import PinnrunError


def check_out(out: str | None) -> Path | None:
    """An explicit run folder must be new or empty: earlier results are never overwritten."""
    if not out:
        return None
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise PinnrunError(f"--out {out}: already exists and is not empty; "
                           "choose a new folder (earlier results are never overwritten)")
    return path


def new_run_dir(out: str | None, name: str, root: str = "runs") -> Path:
    """`out` if given (must be absent or empty), else runs/<name>-<timestamp>[-n]."""
    if out:
        path = check_out(out)
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = Path(root) / (f"{name}-{stamp}" + (f"-{n}" if n else ""))
        try:
            path.mkdir(parents=True)
            return path.resolve()
        except FileExistsError:
            continue
    raise PinnrunError(f"cannot create a run folder under {root}")
