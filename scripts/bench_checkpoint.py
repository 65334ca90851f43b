#!/usr/bin/env python
"""What periodic checkpoints cost: one checkpoint, and a whole training with and without them.

    .venv/bin/python scripts/bench_checkpoint.py [--repeats 3] [--out benchmarks/checkpoint.json]

1. One checkpoint of problems/burgers.yaml as shipped (4x32 tanh, L-BFGS history 50): the
   trainer's snapshot, the ranks' digest comparison and rank 0's atomic write (temporary file,
   fsync, rename, folder fsync), timed in one process in the Adam phase and in the L-BFGS
   phase (its history is most of the bytes); the median of 20.
2. Real 2-rank trainings of problems/burgers.yaml (its 3,000 Adam and 6,000 L-BFGS steps),
   interleaved: the default cadence (every 1,000 steps or 10 minutes) against checkpoints off
   (every 10^9 steps, 10^6 minutes; the final one is still written). The training seconds
   (the phases' wall time, compile included) are compared, median of --repeats each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "problems" / "burgers.yaml"
OFF = ["--set", "training.checkpoint.every_steps=1000000000", "--set", "training.checkpoint.every_minutes=1000000"]


def one_checkpoint(folder: Path) -> dict:

    from pinnrun.training.comm import LocalComm
    from pinnrun.training.hooks import Checkpoints
    from pinnrun.training.session import build_session

    session = build_session(
        SPEC,
        LocalComm(),
        ["training.adam.steps=20", "training.lbfgs.steps=60", "training.log_every=10", "reference=null"],
    )
    trainer = session.trainer
    hook = Checkpoints(folder, session.spec.training.checkpoint.model_copy(update={"keep": 2}), session.comm, {})
    found = {}

    class Timed:
        def poll(self):
            return {}

        def after_chunk(self, trainer, end):
            phase = end.record["phase"]
            times = found.setdefault(phase, [])
            for _ in range(10):
                hook.last = None  # write again at this step
                t0 = time.perf_counter()
                hook.save(trainer)
                times.append(time.perf_counter() - t0)

        def after_phase(self, trainer, name):
            pass

    trainer.run(lambda record: None, [Timed()])
    size = max(p.stat().st_size for p in (folder / "checkpoints").glob("*.npz"))
    return {
        "spec": "problems/burgers.yaml",
        "variables": trainer.n_params,
        "bytes": size,
        "seconds": {phase: statistics.median(t) for phase, t in found.items()},
        "samples": {phase: len(t) for phase, t in found.items()},
    }


def training(folder: Path, name: str, flags: list[str]) -> dict:
    out = folder / name
    cmd = [sys.executable, "-m", "pinnrun.cli", "train", str(SPEC), "--np", "2", "--out", str(out), *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    written = len(list((out / "checkpoints").glob("*.npz")))
    return {
        "training_seconds": sum(p["seconds"] for p in summary["phases"]),
        "wall_seconds": summary["wall_seconds"],
        "steps": summary["steps"],
        "checkpoints_kept": written,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "checkpoint.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        single = one_checkpoint(Path(tmp))
        print(f"one checkpoint: {single}", flush=True)
        runs = {"default": [], "off": []}
        for i in range(args.repeats):
            for mode, flags in (("default", []), ("off", OFF)):
                runs[mode].append(training(Path(tmp), f"{mode}-{i}", flags))
                print(mode, runs[mode][-1], flush=True)
    median = {mode: statistics.median(r["training_seconds"] for r in rs) for mode, rs in runs.items()}
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(["scripts/bench_checkpoint.py", *sys.argv[1:]]),
        "one_checkpoint": single,
        "trainings": runs,
        "median_training_seconds": median,
        "overhead": median["default"] / median["off"] - 1,
        # 9 periodic checkpoints in 9,000 steps at the default cadence, each timed above
        "overhead_from_one_checkpoint": 9 * max(single["seconds"].values()) / median["off"],
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_training_seconds", "overhead", "overhead_from_one_checkpoint")}))


if __name__ == "__main__":
    main()
