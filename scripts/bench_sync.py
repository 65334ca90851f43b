#!/usr/bin/env python
"""Where the weak-scaling gap goes: Horovod, or the two cores running at different speeds?

    .venv/bin/python scripts/bench_sync.py [--repeats 3] [--points 2048,32768,131072] [--out benchmarks/sync.json]

Starts 2 ranks exactly as `pinnrun train --np 2` does on this host (mpirun, Horovod's MPI
controller, pinnrun's pinning and thread settings) on the bench's step (Burgers, 3x50 tanh,
Adam) at each size of --points per rank, in three modes, interleaved:
"plain" (Horovod never initialised: two processes, each pinned to its core, started together;
the ceiling), "independent" (the same with Horovod initialised, so its background thread runs,
but no all-reduce) and "horovod" (the real data-parallel step). For each it reports each
rank's median ms/step over 20 chunks of about a second, and in the Horovod run each rank's
step split into compute and all-reduce + wait (timed in the graph). plain -> independent is
what Horovod's background thread costs; a Horovod step near the slower independent rank's
means the rest of the gap is the cores' speed difference, which no synchronous scheme can
close; beyond it, the difference is the exchange's.
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
SETS = ["network.hidden=[50,50,50]", "training.lbfgs=null", "scaling=weak"]
CHUNKS = 20
MODES = ("plain", "independent", "horovod")


def chunk_steps(points: int) -> int:
    """Steps per timed chunk, about a second on this host (~7 ms a step at 2,048 points)."""
    return max(1, round(100 * 2048 / points))


def env_comm():
    """No Horovod (plain mode): LocalComm's local collectives, with rank and size from mpirun."""
    from pinnrun.training.comm import LocalComm

    comm = LocalComm()
    comm.rank, comm.size, comm.local_rank, comm.local_size = (
        int(os.environ[f"OMPI_COMM_WORLD_{key}"]) for key in ("RANK", "SIZE", "LOCAL_RANK", "LOCAL_SIZE")
    )
    return comm


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


def rank_main(mode: str, result: Path, points: int) -> None:
    """One rank: time CHUNKS compiled calls of a chunk of Adam steps; rank 0 writes every rank's
    times (in plain mode, each rank its own)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from pinnrun.training.adam import Adam
    from pinnrun.training.comm import HorovodComm, LocalComm
    from pinnrun.training.placement import claim_devices
    from pinnrun.training.session import build_session
    from pinnrun.training.trainer import Trainer

    chunk = chunk_steps(points)
    hvd = env_comm() if mode == "plain" else HorovodComm()
    claim_devices(hvd)
    comm = TimedComm(hvd) if mode == "horovod" else LocalComm()
    session = build_session(
        ROOT / "problems" / "burgers.yaml",
        hvd,  # this rank's points of the 2-rank run
        [*SETS, f"sampling.points.burgers={points}"],
    )
    spec = session.spec
    trainer = Trainer(session.losses, session.variables, spec.training, comm)  # timed or local all-reduce
    steps = trainer.adam_steps(Adam(session.variables, spec.training.adam))
    float(steps(tf.constant(1))[0])  # compile
    float(steps(tf.constant(chunk))[0])  # warm-up
    if mode != "plain":
        hvd.allgather_object(None)  # both ranks start timing together (plain: as mpirun started them)
    times, split = [], []
    for _ in range(CHUNKS):
        if mode == "horovod":
            comm.start_chunk()
        t0 = time.perf_counter()
        float(steps(tf.constant(chunk))[0])
        times.append((time.perf_counter() - t0) / chunk)
        if mode == "horovod":
            split.append([round(x / chunk * 1e3, 3) for x in comm.sums.numpy()])
    if mode == "plain":
        Path(f"{result}.{hvd.rank}").write_text(json.dumps(times))
        return
    gathered, splits = hvd.allgather_object(times), hvd.allgather_object(split)
    if hvd.rank == 0:
        result.write_text(
            json.dumps(
                {
                    "mode": mode,
                    "ms_per_step": [statistics.median(t) * 1e3 for t in gathered],
                    "chunks_ms": [[round(x * 1e3, 3) for x in t] for t in gathered],
                    "compute_allreduce_ms": splits,
                }
            )
        )


def launch(mode: str, points: int) -> dict:
    from pinnrun.launch.command import build_command, plan_launch, worker_command

    plan = plan_launch(np=2)
    if plan.launcher != "mpirun":
        raise SystemExit(f"bench_sync: needs mpirun (pinnrun chose '{plan.launcher}')")
    cmd = build_command(plan, ROOT)[: -len(worker_command(ROOT))]  # the launcher part, as pinnrun runs it
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd += [
            sys.executable,
            str(Path(__file__).resolve()),
            "--rank",
            mode,
            "--result",
            str(result),
            "--points",
            str(points),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ | plan.env)
        if mode == "plain" and proc.returncode == 0:
            times = [json.loads(Path(f"{result}.{r}").read_text()) for r in range(2)]
            return {
                "mode": mode,
                "ms_per_step": [statistics.median(t) * 1e3 for t in times],
                "chunks_ms": [[round(x * 1e3, 3) for x in t] for t in times],
            }
        if proc.returncode != 0 or not result.exists():
            raise SystemExit(f"bench_sync: {mode} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        return json.loads(result.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--points", default="2048,32768,131072", help="points per rank, comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "sync.json")
    parser.add_argument("--rank", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank:
        rank_main(args.rank, args.result, int(args.points))
        return 0
    started, sizes = time.time(), []
    for points in (int(p) for p in args.points.split(",")):
        runs = []
        for r in range(args.repeats):
            plain, alone, together = (launch(mode, points) for mode in MODES)
            ceiling = [1e3 / ms for ms in plain["ms_per_step"]]
            idle = [1e3 / ms for ms in alone["ms_per_step"]]
            horovod = 1e3 / together["ms_per_step"][0]
            row = {
                "plain_ms": plain["ms_per_step"],
                "independent_ms": alone["ms_per_step"],
                "horovod_ms": together["ms_per_step"][0],
                "ratio_to_mean": horovod / statistics.mean(ceiling),  # the weak-scaling ratio
                "idle_horovod_to_plain": statistics.mean(idle) / statistics.mean(ceiling),
                "ratio_to_slower": horovod / min(idle),
                "plain_chunks_ms": plain["chunks_ms"],
                "independent_chunks_ms": alone["chunks_ms"],
                "horovod_chunks_ms": together["chunks_ms"][0],
                # per rank, per chunk: [compute, all-reduce + wait] ms per step
                "horovod_split_ms": together["compute_allreduce_ms"],
            }
            runs.append(row)
            print(
                f"{points:,} points, repeat {r}: plain {plain['ms_per_step'][0]:.2f} / {plain['ms_per_step'][1]:.2f} "
                f"ms, with Horovod idle {alone['ms_per_step'][0]:.2f} / {alone['ms_per_step'][1]:.2f} ms, Horovod "
                f"{together['ms_per_step'][0]:.2f} ms; weak ratio {row['ratio_to_mean']:.3f}, idle Horovod "
                f"{row['idle_horovod_to_plain']:.3f}, vs the slower idle rank {row['ratio_to_slower']:.3f}",
                flush=True,
            )
        # As every ratio of the bench (scripts/bench.py, paired_ratio): taken within a repeat, whose
        # launches ran back to back, then the median over the repeats.
        sizes.append(
            {
                "points": points,
                "chunk_steps": chunk_steps(points),
                "runs": runs,
                **{
                    key: statistics.median(r[key] for r in runs)
                    for key in ("ratio_to_mean", "idle_horovod_to_plain", "ratio_to_slower")
                },
            }
        )
    result = {
        "setting": "burgers.yaml, 3x50 tanh, float32, Adam, 2 ranks via mpirun, each pinned to its core",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "duration_seconds": time.time() - started,
        "sizes": sizes,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for size in sizes:
        print(
            f"{size['points']:,} points per rank, medians: weak ratio {size['ratio_to_mean']:.3f}, "
            f"idle Horovod / plain {size['idle_horovod_to_plain']:.3f}, "
            f"Horovod / slower idle rank {size['ratio_to_slower']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
