"""Creating a run folder without ever overwriting an earlier run, atomically.

A folder is claimed by creating its CLAIM file with O_CREAT|O_EXCL: of two jobs
given the same --out at the same moment, exactly one creates it; the other is
told the folder is in use. Checking "absent or empty" and then writing would
let both pass the check.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path

from pinnrun.errors import PinnrunError, printable

CLAIM = ".pinnrun-run"  # kept in the folder: it says which process created it, and when


def check_out(out: str | None) -> Path | None:
    """An explicit run folder must be new or empty (earlier results are never overwritten);
    its absolute path, or None without --out. Creates nothing (what --dry-run needs)."""
    if out is None:
        return None
    if not out.strip():
        raise PinnrunError("--out: empty path")
    if printable(out) != out:  # a newline or escape in a folder name breaks every log line that shows it
        raise PinnrunError(f"--out {out}: a folder name of printable characters only")
    path = Path(out)
    try:
        if path.exists() and (not path.is_dir() or _others(path)):
            kind = "a file" if not path.is_dir() else "not empty"
            raise PinnrunError(
                f"--out {out}: already exists and is {kind}; "
                "choose a new folder (earlier results are never overwritten)"
            )
        ancestor = next(p for p in path.absolute().parents if p.exists())
        if not ancestor.is_dir():  # --out a/file/x: say so in a dry run too
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(ancestor))
        return path.resolve()
    except (OSError, RuntimeError, ValueError) as err:  # RuntimeError: a symbolic-link loop
        raise PinnrunError(f"--out {out}: cannot create: {_reason(err)}") from None


def new_run_dir(out: str | None, name: str, root: str = "runs") -> Path:
    """`out` if given (must be absent or empty), else runs/<name>-<timestamp>[-n];
    created and claimed by this process alone."""
    if out is not None:
        path = check_out(out)
        try:
            path.mkdir(parents=True, exist_ok=True)
            if _others(path):  # something was written there since the check
                raise PinnrunError(
                    f"--out {out}: already exists and is not empty; "
                    "choose a new folder (earlier results are never overwritten)"
                )
            if not _claim(path):
                raise PinnrunError(f"--out {out}: already in use by another run")
        except (OSError, ValueError) as err:
            raise PinnrunError(f"--out {out}: cannot create: {_reason(err)}") from None
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        for n in range(1000):
            path = Path(root) / (f"{name}-{stamp}" + (f"-{n}" if n else ""))
            try:
                path.mkdir(parents=True)
            except FileExistsError:
                continue
            if _claim(path):
                return path.resolve()
    except (OSError, ValueError) as err:
        raise PinnrunError(f"cannot create a run folder under {root}: {_reason(err)}") from None
    raise PinnrunError(f"cannot create a run folder under {root}: 1000 folders named {name}-{stamp}[-n] exist")


def _others(path: Path) -> bool:
    """Anything in the folder but a claim."""
    with os.scandir(path) as entries:
        return any(entry.name != CLAIM for entry in entries)


def _claim(path: Path) -> bool:
    """True if this process created the claim file; False if another one did."""
    try:
        fd = os.open(path / CLAIM, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(
            {"pid": os.getpid(), "host": socket.gethostname(), "claimed": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, f
        )
        f.write("\n")
    return True


def _reason(err: Exception) -> str:
    return (err.strerror if isinstance(err, OSError) and err.strerror else str(err)) or type(err).__name__
