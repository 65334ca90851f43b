#!/usr/bin/env python
"""Where the weak-scaling gap goes: Horovod, or the two cores running at different speeds?

    .venv/bin/python scripts/bench_sync.py [--repeats 3] [--out benchmarks/sync.json]

Starts 2 ranks exactly as `pinnrun train --np 2` does on this host (mpirun, Horovod's MPI
controller, pinnrun's pinning and thread settings) on the bench's standard step (Burgers,
3x50 tanh, 2,048 points per rank, Adam, chunks of 100 steps), in two modes, interleaved:
"independent" (each rank trains alone, no all-reduce: the two processes of the ceiling,
started together) and "horovod" (the real data-parallel step). For each it reports each
rank's median ms/step, and in the Horovod run each rank's step split into compute and
all-reduce + wait (timed in the graph). If the Horovod step costs about what the slower independent rank
costs, the gap to the ceiling (the mean of the two) is the cores' speed difference, which
no synchronous scheme can close; if it costs more, the difference is Horovod's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = ["network.hidden=[50,50,50]", "training.lbfgs=null", "scaling=weak", "sampling.points.burgers=2048"]
CHUNK, CHUNKS = 100, 20


class TimedComm:
    """The real all-reduce, with each rank's own split of the step: compute (from the end of
    the last all-reduce to this one's start) and all-reduce (the exchange plus the wait for
    the other rank), summed in-graph with tf.timestamp."""

    def __init__(self, comm):
        import tensorflow as tf

        self.comm = comm
        self.sums = tf.Variable(tf.zeros([2], tf.float64))
        self.last = tf.Variable(0.0, dtype=tf.float64)

    def allreduce_sum(self, tensor, name="pinnrun_allreduce"):
        import tensorflow as tf

        with tf.control_dependencies([tensor]):
            t1 = tf.timestamp()
        with tf.control_dependencies([t1]):
            out = self.comm.allreduce_sum(tf.identity(tensor), name=name)
        with tf.control_dependencies([out]):
            t2 = tf.timestamp()
        self.sums.assign_add(tf.stack([t1 - self.last, t2 - t1]))
        self.last.assign(t2)
        return tf.identity(out)

    def start_chunk(self) -> None:
        self.sums.assign([0.0, 0.0])
        self.last.assign(time.time())


def rank_main(mode: str, result: Path) -> None:
    """One rank: time CHUNKS compiled calls of CHUNK Adam steps; rank 0 writes every rank's times."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from pinnrun.training.adam import Adam
    from pinnrun.training.comm import HorovodComm, LocalComm
    from pinnrun.training.placement import claim_devices
    from pinnrun.training.session import build_session
    from pinnrun.training.trainer import Trainer

    hvd = HorovodComm()
    claim_devices(hvd)
    comm = TimedComm(hvd) if mode == "horovod" else LocalComm()
    session = build_session(ROOT / "problems" / "burgers.yaml", hvd, SETS)  # this rank's points of the 2-rank run
    spec = session.spec
    trainer = Trainer(session.losses, session.variables, spec.training, comm)  # timed or local all-reduce
    steps = trainer.adam_steps(Adam(session.variables, spec.training.adam))
    float(steps(tf.constant(1))[0])       # compile
    float(steps(tf.constant(CHUNK))[0])   # warm-up
    hvd.allgather_object(None)            # both ranks start timing together
    times, split = [], []
    for _ in range(CHUNKS):
        if mode == "horovod":
            comm.start_chunk()
        t0 = time.perf_counter()
        float(steps(tf.constant(CHUNK))[0])
        times.append((time.perf_counter() - t0) / CHUNK)
        if mode == "horovod":
            split.append([round(x / CHUNK * 1e3, 3) for x in comm.sums.numpy()])
    gathered, splits = hvd.allgather_object(times), hvd.allgather_object(split)
    if hvd.rank == 0:
        result.write_text(json.dumps({"mode": mode, "ms_per_step": [statistics.median(t) * 1e3 for t in gathered],
                                      "chunks_ms": [[round(x * 1e3, 3) for x in t] for t in gathered],
                                      "compute_allreduce_ms": splits}))


def launch(mode: str) -> dict:
    from pinnrun.launch.command import build_command, plan_launch, worker_command

    plan = plan_launch(np=2)
    if plan.launcher != "mpirun":
        raise SystemExit(f"bench_sync: needs mpirun (pinnrun chose '{plan.launcher}')")
    cmd = build_command(plan, ROOT)[:-len(worker_command(ROOT))]  # the launcher part, as pinnrun runs it
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd += [sys.executable, str(Path(__file__).resolve()), "--rank", mode, "--result", str(result)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ | plan.env)
        if proc.returncode != 0 or not result.exists():
            raise SystemExit(f"bench_sync: {mode} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        return json.loads(result.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "sync.json")
    parser.add_argument("--rank", choices=["independent", "horovod"], help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank:
        rank_main(args.rank, args.result)
        return 0
    runs, started = [], time.time()
    for r in range(args.repeats):
        alone, together = launch("independent"), launch("horovod")
        independent, horovod = alone["ms_per_step"], together["ms_per_step"]
        rates = [1e3 / ms for ms in independent]
        row = {"independent_ms": independent, "horovod_ms": horovod[0],
               "ratio_to_mean": (1e3 / horovod[0]) / statistics.mean(rates),
               "ratio_to_slower": (1e3 / horovod[0]) / min(rates),
               "independent_chunks_ms": alone["chunks_ms"], "horovod_chunks_ms": together["chunks_ms"][0],
               # per rank, per chunk: [compute, all-reduce + wait] ms per step
               "horovod_split_ms": together["compute_allreduce_ms"]}
        runs.append(row)
        print(f"repeat {r}: independent {independent[0]:.2f} / {independent[1]:.2f} ms, horovod {horovod[0]:.2f} ms; "
              f"vs their mean {row['ratio_to_mean']:.2f}, vs the slower {row['ratio_to_slower']:.2f}", flush=True)
    # As every ratio of the bench (scripts/bench.py, paired_ratio): taken within a repeat, whose two
    # launches ran back to back, then the median over the repeats.
    result = {"setting": "burgers.yaml, 3x50 tanh, float32, 2,048 points per rank, Adam, 2 ranks via mpirun",
              "date": time.strftime("%Y-%m-%d %H:%M %Z"),
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "duration_seconds": time.time() - started, "runs": runs,
              "ratio_to_mean": statistics.median(r["ratio_to_mean"] for r in runs),
              "ratio_to_slower": statistics.median(r["ratio_to_slower"] for r in runs)}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"median: Horovod step rate / mean of independent ranks {result['ratio_to_mean']:.2f}, "
          f"/ the slower independent rank {result['ratio_to_slower']:.2f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
