#!/usr/bin/env python
"""What one Horovod all-reduce costs a 2-rank CPU job on this host, and why.

    .venv/bin/python scripts/bench_allreduce.py [--repeats 3] [--out benchmarks/allreduce.json]

Each configuration starts 2 ranks (mpirun with Horovod's MPI controller, or
pinnrun's Gloo launcher) that run a compiled loop of all-reduces of a
fused-gradient-sized tensor (4,000 float32), alone and after --layers tanh
layers of compute per step on 2,048 points (30 by default: 8.98 ms a step
without all-reduce in benchmarks/allreduce.json of 2026-11-25), with pinnrun's two CPU measures switched on or off: each rank pinned
to its own core, and Horovod's threads in the idle scheduling class. A
baseline runs the same compute in 2 processes with no all-reduce.
Configurations are interleaved over --repeats; the medians go to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ELEMENTS, POINTS, WIDTH, STEPS = 4000, 2048, 50, 200

# name: (launcher, pin, idle, cycle time ms or None for Horovod's default)
CONFIGS = {
    "gloo": ("gloo", False, False, None),
    "gloo, pinned": ("gloo", True, False, None),
    "gloo, pinned, idle threads": ("gloo", True, True, None),
    "mpi, pinned": ("mpi", True, False, None),
    "mpi, pinned, idle threads": ("mpi", True, True, None),
    "mpi, pinned, idle threads, cycle 0.1 ms (pinnrun)": ("mpi", True, True, "0.1"),
}


def worker(layers: int, reduce: bool) -> None:
    import tensorflow as tf

    from pinnrun.training import placement
    from pinnrun.training.comm import HorovodComm

    comm = HorovodComm()
    if os.environ.get("BENCH_PIN") == "1":
        placement._pin_cores(comm.local_rank, comm.local_size)
    if os.environ.get("BENCH_IDLE") == "1":
        placement._yield_to_compute(comm.background_threads)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    x = tf.Variable(tf.random.normal([ELEMENTS]))
    w = tf.Variable(tf.random.normal([WIDTH, WIDTH]) * 0.1)
    a = tf.random.normal([POINTS, WIDTH])

    @tf.function
    def loop(n):
        acc = tf.zeros([ELEMENTS])
        for _ in tf.range(n):
            h = a
            for _ in range(layers):
                h = tf.tanh(h @ w)
            g = x + acc * 1e-9 + tf.reduce_sum(h) * 1e-9
            acc += comm.allreduce_sum(g) if reduce else g
        return acc

    loop(tf.constant(5)).numpy()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        loop(tf.constant(STEPS)).numpy()
        times.append((time.perf_counter() - t0) / STEPS * 1e3)
    if comm.rank == 0:
        print("BENCH " + json.dumps({"ms_per_step": statistics.median(times)}), flush=True)


def launch(launcher: str, env: dict, args: list[str]) -> float:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", *args]
    full_env = os.environ | env | {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    if launcher == "mpi":
        cmd = (
            ["mpirun", "--allow-run-as-root", "-np", "2", "-bind-to", "none", *cmd]
            if os.geteuid() == 0
            else ["mpirun", "-np", "2", "-bind-to", "none", *cmd]
        )
    else:
        cmd = [sys.executable, "-m", "pinnrun.launch.gloo_local", "2", *cmd]
    out = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    line = next((ln for ln in out.stdout.splitlines() if "BENCH " in ln), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"bench_allreduce: {' '.join(cmd)} failed:\n{(out.stdout + out.stderr)[-2000:]}")
    return json.loads(line.split("BENCH ", 1)[1])["ms_per_step"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", type=int, default=30, help="tanh layers of compute per step")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "allreduce.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-reduce", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.layers, not args.no_reduce)
        return 0

    runs: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.repeats):
        for name, (launcher, pin, idle, cycle) in CONFIGS.items():
            env = {"BENCH_PIN": str(int(pin)), "BENCH_IDLE": str(int(idle))}
            if cycle is not None:
                env["HOROVOD_CYCLE_TIME"] = cycle
            row = runs.setdefault(name, {"alone": [], "with compute": []})
            row["alone"].append(launch(launcher, env, ["--layers", "0"]))
            row["with compute"].append(launch(launcher, env, ["--layers", str(args.layers)]))
        base = runs.setdefault("compute only, 2 pinned processes", {"alone": [], "with compute": []})
        base["with compute"].append(
            launch("mpi", {"BENCH_PIN": "1", "BENCH_IDLE": "1"}, ["--layers", str(args.layers), "--no-reduce"])
        )
    table = {name: {k: statistics.median(v) if v else None for k, v in row.items()} for name, row in runs.items()}
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "cores": os.cpu_count(),
        "repeats": args.repeats,
        "tensor_elements": ELEMENTS,
        "compute_layers": args.layers,
        "ms_per_step": table,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| 2 ranks | all-reduce alone, ms | step with {args.layers} layers of compute, ms |\n|---|---|---|")
    for name, row in table.items():
        alone = f"{row['alone']:.2f}" if row["alone"] is not None else "-"
        print(f"| {name} | {alone} | {row['with compute']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
