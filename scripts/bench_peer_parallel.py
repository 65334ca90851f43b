#!/usr/bin/env python
"""Data-parallel against data-parallel: DeepXDE's own mode beside `pinnrun train --np 2`.

    .venv/bin/python scripts/bench_peer_parallel.py [--repeats 3] [--steps 2000] [--out benchmarks/peer_parallel.json]

DeepXDE's Burgers example (3x20 tanh, 2,540 + 80 + 160 points per rank, Adam), weak scaling,
on this host, each repeat running back to back:
  deepxde alone   two independent DeepXDE processes (backend tensorflow.compat.v1, the one its
                  data-parallel mode needs), each pinned to its core with one thread, started
                  together: the ceiling
  deepxde 2 ranks `horovodrun -np 2` of the same script, as DeepXDE's docs start it (one thread each)
  pinnrun alone   two independent `pinnrun train problems/burgers_deepxde.yaml --np 1`, each pinned
                  to its core, started together
  pinnrun 2 ranks `pinnrun train problems/burgers_deepxde.yaml --np 2`
Each rate is steady Adam steps/s (DeepXDE: from step 500 to the last, its own callback; pinnrun:
the median of its timed chunks). A tool's weak ratio is its 2-rank rate over the mean of its two
alone; ratios are taken within a repeat, then the median (as scripts/bench.py's paired_ratio).
DeepXDE runs through scripts/bench_deepxde.sh in benchmarks/.venv-deepxde.
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
SPEC = ROOT / "problems" / "burgers_deepxde.yaml"
DEEPXDE = ["bash", str(ROOT / "scripts" / "bench_deepxde.sh")]
COMPAT = {"DDE_BACKEND": "tensorflow.compat.v1"}


def deepxde_args(steps: int, out: Path, reference: Path) -> list[str]:
    return [
        "--mode",
        "steps",
        "--steps",
        str(steps),
        "--warmup",
        "500",
        "--threads",
        "1",
        "--quiet",
        "--reference",
        str(reference),
        "--out",
        str(out),
    ]


def run_all(cmds: list[tuple[list[str], dict]]) -> None:
    """Start the commands together, wait for all; any failure stops the bench with its output."""
    procs = [
        subprocess.Popen(c, cwd=ROOT, env=os.environ | env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for c, env in cmds
    ]
    outs = [p.communicate()[0] for p in procs]
    for (c, _), p, out in zip(cmds, procs, outs):
        if p.returncode != 0:
            raise SystemExit(f"bench_peer_parallel: {' '.join(c)} failed:\n{out[-3000:]}")


def pinnrun_rate(folder: Path) -> float:
    return 1.0 / json.loads((folder / "summary.json").read_text())["seconds_per_step"]


def repeat(work: Path, r: int, steps: int, reference: Path) -> dict:
    alone = [work / f"dx-alone-{r}-{c}.json" for c in (0, 1)]
    run_all([(["taskset", "-c", str(c), *DEEPXDE, *deepxde_args(steps, alone[c], reference)], COMPAT) for c in (0, 1)])
    dp = work / f"dx-dp-{r}.json"
    run_all([([*DEEPXDE, "--parallel", "2", *deepxde_args(steps, dp, reference)], {})])
    sets = [
        a
        for s in (
            f"training.adam.steps={steps}",
            "training.lbfgs=null",
            "training.log_every=100",
            "reference=null",
            f"training.seed={r}",
        )
        for a in ("--set", s)
    ]
    train = [sys.executable, "-m", "pinnrun.cli", "train", str(SPEC)]
    run_all(
        [
            (["taskset", "-c", str(c), *train, "--np", "1", "--out", str(work / f"pr-alone-{r}-{c}"), *sets], {})
            for c in (0, 1)
        ]
    )
    run_all([([*train, "--np", "2", "--out", str(work / f"pr-dp-{r}"), *sets], {})])
    dx_alone = [json.loads(p.read_text())["steps_per_s"] for p in alone]
    dx_dp = [json.loads(Path(f"{dp}.rank{k}").read_text())["steps_per_s"] for k in (0, 1)]
    pr_alone = [pinnrun_rate(work / f"pr-alone-{r}-{c}") for c in (0, 1)]
    pr_dp = pinnrun_rate(work / f"pr-dp-{r}")
    row = {
        "deepxde_alone": dx_alone,
        "deepxde_two_ranks": min(dx_dp),
        "deepxde_two_ranks_by_rank": dx_dp,
        "pinnrun_alone": pr_alone,
        "pinnrun_two_ranks": pr_dp,
    }
    row["deepxde_weak_ratio"] = row["deepxde_two_ranks"] / statistics.mean(dx_alone)
    row["pinnrun_weak_ratio"] = pr_dp / statistics.mean(pr_alone)
    row["pinnrun_over_deepxde_two_ranks"] = pr_dp / row["deepxde_two_ranks"]
    print(
        f"repeat {r}: DeepXDE alone {dx_alone[0]:.0f} / {dx_alone[1]:.0f}, 2 ranks {row['deepxde_two_ranks']:.0f} "
        f"steps/s (weak {row['deepxde_weak_ratio']:.2f}); pinnrun alone {pr_alone[0]:.0f} / {pr_alone[1]:.0f}, "
        f"2 ranks {pr_dp:.0f} (weak {row['pinnrun_weak_ratio']:.2f}); pinnrun / DeepXDE on 2 ranks "
        f"{row['pinnrun_over_deepxde_two_ranks']:.2f}",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "peer_parallel.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench import reference_file  # one truth for both tools: pinnrun's Cole-Hopf on DeepXDE's grid

    started = time.time()
    with tempfile.TemporaryDirectory(prefix="pinnrun-peer-") as tmp:
        work = Path(tmp)
        reference = reference_file(work)
        runs = [repeat(work, r, args.steps, reference) for r in range(args.repeats)]
        versions = json.loads((work / "dx-dp-0.json.rank0").read_text())["versions"]
    keys = ("deepxde_weak_ratio", "pinnrun_weak_ratio", "pinnrun_over_deepxde_two_ranks")
    result = {
        "setting": "DeepXDE's Burgers example, 3x20 tanh, 2,540 + 80 + 160 points per rank, Adam, "
        "weak scaling, 2 ranks on this host",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "steps": args.steps,
        "duration_seconds": time.time() - started,
        "deepxde_versions": {k: v for k, v in versions.items() if k != "all"},
        "runs": runs,
        **{k: statistics.median(r[k] for r in runs) for k in keys},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"medians: DeepXDE weak {result['deepxde_weak_ratio']:.2f}, pinnrun weak {result['pinnrun_weak_ratio']:.2f}, "
        f"pinnrun / DeepXDE on 2 ranks {result['pinnrun_over_deepxde_two_ranks']:.2f} -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
