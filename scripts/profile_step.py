"""Single-process Adam steps/s of a problem spec, through the real training path.

    .venv/bin/python scripts/profile_step.py [SPEC] [--threads 2] [--inter N] [--chunk 100] [--repeats 20] [--xla]

Builds the problem, points, network and Trainer exactly as a 1-rank run does
(default spec: problems/burgers_deepxde.yaml), then runs Adam in compiled
chunks of --chunk steps (the trainer's log_every). The compile chunk and one
warm-up chunk are left out; the median steps/s of the --repeats timed chunks
is printed with the range, and steps per CPU second (median and best), which
a busy machine disturbs less. The machine may be shared: compare variants
interleaved (A B A B), several times, and run under `nice -n -20` if you can.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", nargs="?", default=str(ROOT / "problems" / "burgers_deepxde.yaml"))
    ap.add_argument("--threads", type=int, default=2, help="intra- and inter-op threads (a rank's share)")
    ap.add_argument("--inter", type=int, help="inter-op threads, if not --threads")
    ap.add_argument("--chunk", type=int, default=100, help="Adam steps per compiled chunk")
    ap.add_argument("--repeats", type=int, default=20, help="timed chunks")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--xla", action="store_true", help="compile the loss and gradient with XLA (jit_compile)")
    args = ap.parse_args()

    import tensorflow as tf

    # Before TensorFlow runs anything, as pinnrun.training.placement.claim_devices does.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter or args.threads)

    from pinnrun.training.comm import LocalComm
    from pinnrun.training.session import build_session

    steps = 1 + args.chunk * (args.repeats + 1)  # 1 to compile, a partial chunk, then full ones
    trainer = build_session(
        args.spec,
        LocalComm(),
        [*args.overrides, f"training.adam.steps={steps}", "training.lbfgs=null", f"training.log_every={args.chunk}"],
    ).trainer
    if args.xla:  # an experiment: the loss and its gradient as one XLA cluster (Adam stays outside)
        losses, plain = trainer.losses, type(trainer.losses).value_and_gradient
        compiled = tf.function(lambda: plain(losses, trainer.params), jit_compile=True)
        losses.value_and_gradient = lambda variables: compiled()
    marks = []  # (step, wall clock, this process's CPU time) after each chunk
    trainer.run(lambda record: marks.append((record["step"], time.perf_counter(), time.process_time())))

    spans = list(zip(marks[1:], marks[2:]))  # the first chunk compiles, the second warms up
    wall = [(b[0] - a[0]) / (b[1] - a[1]) for a, b in spans]
    cpu = [(b[0] - a[0]) / (b[2] - a[2]) for a, b in spans]  # less sensitive to a busy machine
    print(
        f"{Path(args.spec).name}: threads={args.threads} inter={args.inter or args.threads} "
        f"chunk={args.chunk} steps/s median "
        f"{statistics.median(wall):.1f} range {min(wall):.1f}-{max(wall):.1f}; per CPU second "
        f"median {statistics.median(cpu):.1f} best {max(cpu):.1f} (n={len(spans)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
