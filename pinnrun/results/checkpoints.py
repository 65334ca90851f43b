"""Training-state checkpoints in a run folder: `checkpoints/step-<N>.npz`.

One file per checkpoint: every state variable as a named array plus a JSON
`meta` entry (phase statistics, digests, the sampling it was trained on). A
checkpoint is written to a temporary file, fsynced, then renamed into place and
the folder fsynced, so a crash or kill at any moment leaves either the old set
or the old set plus one complete new file; a reader never sees half of one.
Only the newest `keep` are kept.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FOLDER = "checkpoints"
NAME = re.compile(r"step-(\d{10})\.npz")
META = "__meta__"


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    arrays: dict[str, np.ndarray]
    meta: dict


class CheckpointError(OSError):
    """A checkpoint that cannot be written or read; the message is one line."""


def in_run(name: str) -> str:
    """A checkpoint's file name as summaries and messages give it: relative to the run folder."""
    return f"{FOLDER}/{name}"


def checkpoint_paths(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint, oldest first."""
    folder = Path(run_dir) / FOLDER
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), folder / name) for name in os.listdir(folder) if (m := NAME.fullmatch(name))]
    return sorted(found)


def write_checkpoint(run_dir: Path, step: int, arrays: dict[str, np.ndarray], meta: dict, keep: int) -> Path:
    folder = Path(run_dir) / FOLDER
    path = folder / f"step-{step:010d}.npz"
    tmp = folder / f".{path.name}.tmp"
    entries = {**arrays, META: np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    try:
        folder.mkdir(exist_ok=True)
        # np.savez's layout (np.load reads it back), with the archive closed even when a write fails
        with open(tmp, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name, array in entries.items():
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(folder)
    except OSError as err:
        _remove(tmp)  # a full disk must not leave a partial file behind
        raise CheckpointError(f"cannot write checkpoint {path}: {err.strerror or err}") from None
    for _, old in checkpoint_paths(run_dir)[:-keep]:
        _remove(old)
    return path


def read_checkpoint(path: Path, arrays: bool = True) -> Checkpoint:
    """The checkpoint at `path`; with arrays=False only its meta (the launcher needs no state)."""
    path = Path(path)
    m = NAME.fullmatch(path.name)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k != META} if arrays else {}
            meta = json.loads(bytes(data[META]).decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from None
    return Checkpoint(path, int(m.group(1)) if m else int(meta.get("step", 0)), arrays, meta)


def latest_checkpoint(run_dir: Path, arrays: bool = True) -> Checkpoint | None:
    """The newest checkpoint that reads back whole (an older one if the newest is damaged)."""
    errors = []
    for _, path in reversed(checkpoint_paths(run_dir)):
        try:
            return read_checkpoint(path, arrays)
        except CheckpointError as err:
            errors.append(str(err))
    if errors:
        raise CheckpointError(errors[0])
    return None


def _fsync_folder(folder: Path) -> None:
    """The rename is durable only once the folder's entry is on disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
