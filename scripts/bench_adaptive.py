"""What adaptive points, loss balancing and causal weights cost in training time.

    .venv/bin/python scripts/bench_adaptive.py [--steps 3000] [--repeats 2] [--out benchmarks/adaptive.json]
    .venv/bin/python scripts/bench_adaptive.py --rounds 4000   # each round's seconds, every setting together

One process (1 rank, the threads a rank of a 2-rank run on 2 cores gets: 1 intra-op,
1 inter-op) trains problems/burgers_soft.yaml's Adam phase (8,192 + 256 + 256 points,
4 x 32 tanh) through the real path (build_session, Session.train) with each setting at the
period the docs suggest, every 1,000 steps, and without. The time that counts is the
Adam phase's wall time less its compile call (PhaseStats); the hooks' own seconds (the
rounds: candidates, residuals, the choice; the per-term gradients) are timed apart.
Settings run interleaved, `--repeats` times each; the overhead is the median time over
the baseline's median, minus 1. Results go to --out with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EVERY = 1000
SETTINGS = {
    "baseline": [],
    "resample": ["sampling.adapt.method=resample", f"sampling.adapt.every={EVERY}"],
    "rad": ["sampling.adapt.method=rad", f"sampling.adapt.every={EVERY}"],
    "rar": ["sampling.adapt.method=rar", f"sampling.adapt.every={EVERY}", "sampling.adapt.add=512"],
    "grad_norm": ["training.loss_balancing.method=grad_norm", f"training.loss_balancing.every={EVERY}"],
    "causal": ["training.causal.chunks=32"],
    "rad+grad_norm+causal": [
        "sampling.adapt.method=rad",
        f"sampling.adapt.every={EVERY}",
        "training.loss_balancing.method=grad_norm",
        f"training.loss_balancing.every={EVERY}",
        "training.causal.chunks=32",
    ],
}


def measure(overrides: list[str], steps: int) -> dict:
    from pinnrun.training.comm import LocalComm
    from pinnrun.training.session import build_session

    session = build_session(
        ROOT / "problems" / "burgers_soft.yaml",
        LocalComm(),
        [*overrides, f"training.adam.steps={steps}", "training.lbfgs=null", f"training.log_every={EVERY}"],
    )
    hook_seconds = 0.0
    for hook in session.hooks:  # time each hook's work between chunks
        inner = hook.after_chunk

        def timed(trainer, end, inner=inner):
            nonlocal hook_seconds
            t0 = time.perf_counter()
            inner(trainer, end)
            hook_seconds += time.perf_counter() - t0

        hook.after_chunk = timed
    log = session.train(lambda record: None)
    adam = log.phase("adam")
    return {
        "seconds": adam.seconds - adam.compile_seconds,
        "compile_seconds": adam.compile_seconds,
        "hook_seconds": hook_seconds,
        "steps": adam.steps,
    }


def rounds(steps: int) -> dict:
    """Every setting together (RAD, grad-norm weights, causal weights), rounds every EVERY steps: the
    seconds of each hook call, so the first round (which traces the residual and per-term gradient
    functions) and the later ones are told apart."""
    from pinnrun.training.comm import LocalComm
    from pinnrun.training.session import build_session

    session = build_session(
        ROOT / "problems" / "burgers_soft.yaml",
        LocalComm(),
        [
            *SETTINGS["rad+grad_norm+causal"],
            f"training.adam.steps={steps}",
            "training.lbfgs=null",
            f"training.log_every={EVERY}",
        ],
    )
    calls = []
    for hook in session.hooks:
        inner = hook.after_chunk

        def timed(trainer, end, inner=inner, name=type(hook).__name__):
            t0 = time.perf_counter()
            inner(trainer, end)
            calls.append({"hook": name, "step": trainer.step, "seconds": time.perf_counter() - t0})

        hook.after_chunk = timed
    adam = session.train(lambda record: None).phase("adam")
    return {
        "steps": steps,
        "adam_seconds": adam.seconds - adam.compile_seconds,
        "chunks": adam.chunks,
        "hook_calls": [c for c in calls if c["step"] % EVERY == 0 and 0 < c["step"] < steps],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "adaptive.json")
    ap.add_argument(
        "--rounds",
        type=int,
        metavar="STEPS",
        help="only time each round of every setting together over STEPS Adam steps, into --out's 'rounds'",
    )
    args = ap.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.rounds:
        measured = rounds(args.rounds)
        for call in measured["hook_calls"]:
            print(f"step {call['step']:>6} {call['hook']:>15}: {call['seconds']:.3f} s")
        print(f"Adam: {measured['adam_seconds']:.1f} s for {args.rounds} steps")
        record = json.loads(args.out.read_text()) if args.out.exists() else {}
        record["rounds"] = {
            "command": " ".join([".venv/bin/python", "scripts/bench_adaptive.py", *sys.argv[1:]]),
            "date": time.strftime("%Y-%m-%d"),
            **measured,
        }
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        return 0

    runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for r in range(args.repeats):
        for name, overrides in SETTINGS.items():
            runs[name].append(measure(overrides, args.steps))
            print(f"repeat {r + 1} {name}: {runs[name][-1]}", flush=True)
    base = statistics.median(m["seconds"] for m in runs["baseline"])
    table = {}
    for name, measured in runs.items():
        seconds = statistics.median(m["seconds"] for m in measured)
        table[name] = {
            "seconds": seconds,
            "overhead": seconds / base - 1,
            "hook_seconds": statistics.median(m["hook_seconds"] for m in measured),
            "runs": measured,
        }
        print(
            f"{name:>22}: {seconds:7.2f} s for {args.steps} Adam steps, overhead {100 * (seconds / base - 1):+5.1f} %, "
            f"hooks {table[name]['hook_seconds']:.2f} s"
        )
    kept = json.loads(args.out.read_text()).get("rounds") if args.out.exists() else None
    args.out.write_text(
        json.dumps(
            {
                **({"rounds": kept} if kept else {}),
                "command": " ".join([".venv/bin/python", "scripts/bench_adaptive.py", *sys.argv[1:]]),
                "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "setting": f"burgers_soft, 1 rank, 1 intra/1 inter-op thread, {args.steps} Adam steps, period {EVERY}",
                "results": table,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
