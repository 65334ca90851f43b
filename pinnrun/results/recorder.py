"""What rank 0 writes while training: events (for the launcher's progress bar),
metrics.jsonl and TensorBoard scalars. Other ranks get a silent recorder."""
from __future__ import annotations

import time
from pathlib import Path

from pinnrun.results.strict_json import strict_json

EVENTS, METRICS, SUMMARY = "events.jsonl", "metrics.jsonl", "summary.json"


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

    def _tensorboard(self, record: dict) -> None:
        import tensorflow as tf

        if self._tb is None:
            self._tb = tf.summary.create_file_writer(str(self.run_dir / "tensorboard"))
        with self._tb.as_default(step=record["step"]):
            tf.summary.scalar("loss/total", record["loss"])
            for name, value in record["losses"].items():
                tf.summary.scalar(f"loss/{name}", value)
            if record.get("lr") is not None:
                tf.summary.scalar("learning_rate", record["lr"])
            for name, value in record.get("parameters", {}).items():
                tf.summary.scalar(f"parameter/{name}", value)
        self._tb.flush()

    def write_json(self, name: str, data: dict) -> None:
        """Atomic write: a reader never sees half a file."""
        if self.enabled:
            write_json(self.run_dir / name, data)


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(strict_json(data, indent=2) + "\n")
    tmp.replace(path)


def _append(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(strict_json(record) + "\n")
