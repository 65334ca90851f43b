"""What rank 0 writes while training: events (for the launcher's progress bar),
metrics.jsonl and TensorBoard scalars. Other ranks get a silent recorder.

A write that fails (a full disk, a folder made unwritable) leaves no partial
file and no half line behind and raises RecordError, one line naming the file,
so the run can stop and say so instead of crashing mid-record.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from pinnrun.results.strict_json import loads, strict_json

EVENTS, METRICS, SUMMARY = "events.jsonl", "metrics.jsonl", "summary.json"


class RecordError(OSError):
    """A run-folder file that could not be written; the message is one line."""


class Recorder:
    def __init__(self, run_dir: Path, enabled: bool):
        self.run_dir, self.enabled = Path(run_dir), enabled
        self._tb = None

    def event(self, kind: str, **data) -> None:
        if self.enabled:
            _append(self.run_dir / EVENTS, {"event": kind, "time": time.time(), **data})

    def metric(self, record: dict) -> None:
        if not self.enabled:
            return
        _append(self.run_dir / METRICS, record)
        self.event("progress", step=record["step"], phase=record["phase"], loss=record["loss"],
                   **({"parameters": record["parameters"]} if "parameters" in record else {}))
        self._tensorboard(record)

    def replay_tensorboard(self, records: list[dict]) -> None:
        """A resumed run's TensorBoard starts over from the metrics it kept, so no step shows twice."""
        if self.enabled:
            for record in records:
                self._tensorboard(record)

    def _tensorboard(self, record: dict) -> None:
        import tensorflow as tf

        def scalar(name: str, value) -> None:
            # float64: a finite loss beyond float32's range (1e39) is written, not refused
            tf.summary.scalar(name, tf.constant(value, tf.float64))

        folder = self.run_dir / "tensorboard"
        try:
            if self._tb is None:
                self._tb = tf.summary.create_file_writer(str(folder))
            with self._tb.as_default(step=record["step"]):
                scalar("loss/total", record["loss"])
                for name, value in record["losses"].items():
                    scalar(f"loss/{name}", value)
                if record.get("lr") is not None:
                    scalar("learning_rate", record["lr"])
                for name, value in record.get("parameters", {}).items():
                    scalar(f"parameter/{name}", value)
            self._tb.flush()
        except tf.errors.OpError as err:  # a full disk: ResourceExhaustedError '…/events.out…; No space left…'
            reason = err.message.split("\n")[0].rsplit("; ", 1)[-1]
            raise RecordError(f"cannot write {folder}: {reason}") from None

    def write_json(self, name: str, data: dict) -> None:
        """Atomic write: a reader never sees half a file."""
        if self.enabled:
            write_json(self.run_dir / name, data)


def write_json(path: Path, data: dict) -> None:
    """Atomic: a temporary file renamed into place; on failure nothing is left but the old file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(strict_json(data, indent=2) + "\n")
        tmp.replace(path)
    except OSError as err:
        _remove(tmp)
        raise RecordError(f"cannot write {path}: {err.strerror or err}") from None


def _append(path: Path, record: dict) -> None:
    """One whole line or nothing: a failed write is cut back to where the file ended."""
    line = (strict_json(record) + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as err:
        raise RecordError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        end = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(28, os.strerror(28))  # a short write is a full disk
        except OSError as err:
            try:
                os.ftruncate(fd, end)
            except OSError:
                pass
            raise RecordError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)


def cut_metrics(path: Path, step: int, dropped_to: Path) -> None:
    """Keep the complete records up to `step` (where training goes on from); the rest, and a line
    cut by a kill, are appended to `dropped_to`: nothing is lost, and no step shows twice."""
    if not path.exists():
        return
    kept, dropped = [], []
    for line in path.read_text(errors="replace").splitlines(keepends=True):
        try:
            record = loads(line) if line.endswith("\n") else None
        except (ValueError, RecursionError):
            record = None
        keep = isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step
        (kept if keep else dropped).append(line)
    if not dropped:
        return
    with open(dropped_to, "a") as f:
        f.write("".join(dropped))
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(kept))
    os.replace(tmp, path)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
