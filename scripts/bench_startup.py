#!/usr/bin/env python
"""Where a 2-rank job's start-up goes: the launcher, and a rank's imports.

    .venv/bin/python scripts/bench_startup.py [--repeats 3] [--out benchmarks/startup.json]

Launchers: the bench's step (scripts/bench.py: Burgers, 3x50 tanh, 2,048 points per rank,
Adam, here 200 steps) on 2 ranks, started by pinnrun's local default (mpirun with Horovod's
MPI controller) and by `--launcher horovodrun`, interleaved; each timed from the command's
start to the end of the first training step, as the bench times start-up. Imports: a rank's
`import pinnrun.worker` under `python -X importtime`, cumulative seconds of the heavy modules.
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
sys.path.insert(0, str(ROOT / "scripts"))
import bench  # noqa: E402  (scripts/bench.py: the bench's run and setting)

LAUNCHERS = {"mpirun (pinnrun's default)": (), "horovodrun": ("--launcher", "horovodrun")}
MODULES = ("pinnrun.worker", "tensorflow", "keras._tf_keras", "matplotlib.pyplot", "scipy.stats")


def launcher_startup(work: Path, repeats: int) -> dict:
    sets = bench.BENCH_NET + ["scaling=weak", "sampling.points.burgers=2048"] + bench.adam_sets(200)
    seconds: dict[str, list[float]] = {name: [] for name in LAUNCHERS}
    for r in range(repeats):
        order = list(LAUNCHERS.items())
        for i, (name, options) in enumerate(order if r % 2 == 0 else order[::-1]):  # neither always first
            run = bench.Run(bench.BURGERS, 2, sets, work, f"startup-{r}-{i}", options=options).wait()
            seconds[name].append(run.startup_seconds)
    return {name: {"median_seconds": statistics.median(s), "runs": s} for name, s in seconds.items()}


def import_seconds(repeats: int) -> dict:
    """Cumulative import time per module, from `-X importtime` (microseconds on stderr)."""
    runs: dict[str, list[float]] = {m: [] for m in MODULES}
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import pinnrun.worker"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        cumulative = {}
        for line in proc.stderr.splitlines():
            if line.startswith("import time:") and "|" in line and "cumulative" not in line:
                _, total, module = (part.strip() for part in line.removeprefix("import time:").split("|"))
                cumulative[module] = int(total) / 1e6
        for module in MODULES:
            runs[module].append(cumulative.get(module))
    return {m: {"median_seconds": statistics.median(v) if None not in v else None, "runs": v} for m, v in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "startup.json")
    args = parser.parse_args()
    load_before = Path("/proc/loadavg").read_text().split()[:3]  # other work on the host slows start-up
    with tempfile.TemporaryDirectory(prefix="pinnrun-startup-") as work:
        launchers = launcher_startup(Path(work), args.repeats)
    result = {
        "setting": "burgers.yaml, 3x50 tanh, float32, 2,048 points per rank, Adam, 2 ranks",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "load_average_before": load_before,
        "seconds_to_first_step": launchers,
        "import_seconds": import_seconds(args.repeats + 1),
        "load_average_after": Path("/proc/loadavg").read_text().split()[:3],
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
