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

from pinnrun.results.files import EVENTS, METRICS


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
        self.event(
            "progress",
            step=record["step"],
            phase=record["phase"],
            loss=record["loss"],
            **({"parameters": record["parameters"]} if "parameters" in record else {}),
        )
        self._tensorboard(record)

    def replay_tensorboard(self, records: list[dict]) -> None:
        """A resumed run's TensorBoard starts over from the metrics it kept, so no step shows twice."""
        if self.enabled:
            for record in records:
                self._tensorboard(record)

    def _tensorboard(self, record: dict) -> None:
        """Each record's numbers as TensorBoard scalars (simple values, which every TensorBoard
        reader shows as scalars; tf.summary.scalar writes tensors that older readers skip)."""
        import tensorflow as tf

        folder = self.run_dir / "tensorboard"
        values = tensorboard_scalars(record)
        summary = tf.compat.v1.Summary(
            value=[tf.compat.v1.Summary.Value(tag=tag, simple_value=value) for tag, value in values.items()]
        )
        try:
            if self._tb is None:
                self._tb = tf.summary.create_file_writer(str(folder))
            with self._tb.as_default(step=record["step"]):
                tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=record["step"])
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


def tensorboard_scalars(record: dict) -> dict[str, float]:
    """Tag -> value of one metrics record: the total loss and each term's, the L2 error (combined and
    per output, at the records where it was evaluated), the learning rate, unknown parameters, loss
    weights that training changes, the causal weight, and the spread of the ranks' own loss
    estimates ((max - min) / mean: how differently the ranks' shards see the loss)."""
    values = {"loss/total": record["loss"], **{f"loss/{k}": v for k, v in record["losses"].items()}}
    if record.get("l2_relative_error") is not None:
        values["error/l2"] = record["l2_relative_error"]
    errors = record.get("l2_relative_errors") or {}
    if len(errors) > 1:
        values |= {f"error/l2/{k}": v for k, v in errors.items() if v is not None}
    if record.get("lr") is not None:
        values["learning_rate"] = record["lr"]
    values |= {f"parameter/{k}": v for k, v in (record.get("parameters") or {}).items()}
    values |= {f"weight/{k}": v for k, v in (record.get("weights") or {}).items()}
    if record.get("causal_weight") is not None:
        values["causal_weight"] = record["causal_weight"]
    totals = [sum(losses) for losses in record.get("rank_losses") or []]
    if len(totals) > 1 and sum(totals) > 0:
        values["loss/rank_spread"] = (max(totals) - min(totals)) / (sum(totals) / len(totals))
    return {tag: float(v) for tag, v in values.items() if v is not None}
