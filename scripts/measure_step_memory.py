"""Peak memory of training steps, for calibrating pinnrun/spec/memory.py.

    .venv/bin/python scripts/measure_step_memory.py SPEC [--set KEY=VALUE ...]

One process per measurement (peak RSS only grows): builds one rank the way
pinnrun/worker.py does (LocalComm), runs a few Adam steps and, if the spec has
L-BFGS, a few L-BFGS steps, then prints one JSON line: the peak RSS above the
baseline taken after TensorFlow is imported, and the estimate for the same spec
(without the reference grid, which rank 0 alone builds and this script does not).
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def vm_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    import tensorflow as tf

    from pinnrun.spec.loader import load_spec
    from pinnrun.spec.memory import estimate_rank_memory
    from pinnrun.training.comm import LocalComm
    from pinnrun.training.session import build_session

    tf.constant(1.0) + 1.0  # start the runtime: its threads and allocator belong to the baseline
    baseline = vm_kib("VmRSS")
    overrides = ["training.adam.steps=3", "training.log_every=1", *args.overrides]
    loaded = load_spec(args.spec, overrides)
    spec = loaded.spec
    if spec.training.lbfgs is not None:
        loaded = load_spec(args.spec, [*overrides, "training.lbfgs.steps=3"])
        spec = loaded.spec
    build_session(loaded, LocalComm()).trainer.run(lambda record: None)
    peak = vm_kib("VmHWM")
    estimate = estimate_rank_memory(spec, 1, loaded.expressions)
    print(
        json.dumps(
            {
                "spec": args.spec,
                "overrides": args.overrides,
                "measured_mib": round((peak - baseline) / 1024, 1),
                # no Solution is built here: the reference grid's part is not measured
                "estimate_training_mib": round((estimate.total - estimate.parts["reference"]) / 2**20, 1),
                "parts_mib": {k: round(v / 2**20, 1) for k, v in estimate.parts.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
