"""A training stopped at a step, snapshotted, and continued in a new session: what the
restore tests of adaptive points and loss weights share."""

from __future__ import annotations

from pinnrun.training.trainer import ChunkEnd, Hook


class StopAt(Hook):
    def __init__(self, step: int):
        self.step = step

    def after_chunk(self, trainer, end: ChunkEnd) -> None:
        if trainer.step == self.step:
            end.stop = "test"


def stopped_and_restored(make_session, step: int):
    """(the snapshot's arrays at `step`, a new session restored from it and trained to the end)."""
    first = make_session()
    first.train(lambda record: None, [StopAt(step)])
    arrays, meta = first.trainer.snapshot()
    second = make_session()
    second.trainer.restore_variables(arrays)
    second.trainer.restore_progress(meta)
    second.train(lambda record: None)
    return arrays, second


class Trained:
    """A `pinnrun train` run of burgers_soft with `sets`, read back: its metrics, summary, newest
    checkpoint's arrays and what `pinnrun inspect` shows of it."""

    def __init__(self, out, ranks: int, sets: list[str]):
        import json
        import subprocess
        import sys

        from helpers import PROBLEMS
        from pinnrun.results.checkpoints import latest_checkpoint

        def cli(*args):
            return subprocess.run(
                [sys.executable, "-m", "pinnrun.cli", *map(str, args)], capture_output=True, text=True, timeout=300
            )

        proc = cli(
            "train",
            PROBLEMS / "burgers_soft.yaml",
            "--np",
            ranks,
            "--out",
            out,
            *[a for s in sets for a in ("--set", s)],
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        self.records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        self.summary = json.loads((out / "summary.json").read_text())
        self.arrays = latest_checkpoint(out).arrays
        self.shown = cli("inspect", out).stdout
