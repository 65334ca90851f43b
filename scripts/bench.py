#!/usr/bin/env python
"""pinnrun's benchmark: speed, scaling, start-up, and DeepXDE as the peer, in one run.

    .venv/bin/python scripts/bench.py [--repeats 3] [--steps 2000] [--no-peer] [--no-full]
    .venv/bin/python scripts/bench.py --render    # only re-render the doc from benchmarks/results.json

Every number comes from real `pinnrun train` runs (and DeepXDE runs through
scripts/bench_deepxde.sh, in its own virtual environment) on this machine.
benchmarks/results.json keeps every run's measurement; the report derives the
rest from it: rates are medians over --repeats, and every ratio is a median of
per-repeat ratios (`paired_ratio`). Writes benchmarks/results.json and the
generated part of docs/performance.md (between its bench markers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PINNRUN = [sys.executable, "-m", "pinnrun.cli"]
BURGERS = ROOT / "problems" / "burgers.yaml"
DEEPXDE_SPEC = ROOT / "problems" / "burgers_deepxde.yaml"
# The standard setting: a Burgers residual, 3x50 tanh, 2,048 points per rank, Adam.
BENCH_NET = ["network.hidden=[50,50,50]", "training.lbfgs=null"]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


class Run:
    """One `pinnrun train`, timed from the command's start."""

    def __init__(
        self,
        spec: Path,
        ranks: int,
        sets: list[str],
        work: Path,
        name: str,
        pin: int | None = None,
        options: tuple[str, ...] = (),
    ):
        self.dir = work / name
        cmd = PINNRUN + ["train", str(spec), "--np", str(ranks), "--out", str(self.dir), *options]
        cmd += [a for s in sets for a in ("--set", s)]
        if pin is not None:  # one core: the process sees one core and takes one thread
            cmd = ["taskset", "-c", str(pin)] + cmd
        self.cmd = cmd
        self.t0 = time.time()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)

    def wait(self) -> "Run":
        out, _ = self.proc.communicate()
        if self.proc.returncode != 0:
            raise SystemExit(f"bench: {' '.join(self.cmd)} failed:\n{out[-3000:]}")
        self.summary = json.loads((self.dir / "summary.json").read_text())
        self.events = [json.loads(line) for line in (self.dir / "events.jsonl").read_text().splitlines()]
        self.metrics = [json.loads(line) for line in (self.dir / "metrics.jsonl").read_text().splitlines()]
        return self

    @property
    def steps_per_second(self) -> float:
        return 1.0 / self.summary["seconds_per_step"]

    @property
    def startup_seconds(self) -> float:
        """Command start to the end of the first training step (its progress event)."""
        first = next(e for e in self.events if e["event"] == "progress")
        return first["time"] - self.t0

    def seconds_to_error(self, target: float) -> float | None:
        """Command start to the first logged step at or below `target` L2 error."""
        start = next(e for e in self.events if e["event"] == "start")["time"]
        hit = next((m for m in self.metrics if (m.get("l2_relative_error") or 1e9) <= target), None)
        return None if hit is None else start - self.t0 + hit["elapsed"]


def adam_sets(steps: int) -> list[str]:
    return [f"training.adam.steps={steps}", "training.lbfgs=null", f"training.log_every={max(1, steps // 20)}"]


def median(values) -> float:
    return float(statistics.median(values))


def single_and_weak(work: Path, steps: int, repeats: int) -> dict:
    sets = BENCH_NET + ["scaling=weak", "sampling.points.burgers=2048"] + adam_sets(steps)
    single, ceiling, slower, weak, start1, start2 = [], [], [], [], [], []
    for r in range(repeats):
        one = Run(BURGERS, 1, sets, work, f"single-{r}").wait()
        single.append(one.steps_per_second)
        start1.append(one.startup_seconds)
        pair = [Run(BURGERS, 1, sets, work, f"ceiling-{r}-{c}", pin=c) for c in (0, 1)]
        rates = [p.wait().steps_per_second for p in pair]
        ceiling.append(statistics.mean(rates))
        # A synchronous job steps at the pace of its slower rank: when the two cores run at
        # different speeds, the slower independent process is the bound it can reach.
        slower.append(min(rates))
        two = Run(BURGERS, 2, sets, work, f"weak2-{r}").wait()
        weak.append(two.steps_per_second)
        start2.append(two.startup_seconds)
    return {
        "setting": "burgers.yaml, 3x50 tanh, float32, 2,048 points per rank, Adam",
        "single": {"steps_per_second": median(single), "points_per_second": 2048 * median(single), "runs": single},
        "weak": {
            "ceiling_steps_per_second": median(ceiling),
            "two_rank_steps_per_second": median(weak),
            "ceiling_runs": ceiling,
            "two_rank_runs": weak,
            "slower_process_steps_per_second": median(slower),
            "slower_process_runs": slower,
        },
        "startup": {
            "one_rank_seconds": median(start1),
            "two_rank_seconds": median(start2),
            "one_rank_runs": start1,
            "two_rank_runs": start2,
        },
    }


def strong(work: Path, steps: int, repeats: int) -> dict:
    """2 ranks against 1 rank using every core (what a user runs), and against 1 rank on one
    core (per-core scaling: the ranks each get one core)."""
    sets = BENCH_NET + ["scaling=strong", "sampling.points.burgers=8192"] + adam_sets(steps)
    t1, t1core, t2 = [], [], []
    for r in range(repeats):
        t1.append(Run(BURGERS, 1, sets, work, f"strong1-{r}").wait().summary["seconds_per_step"])
        t1core.append(Run(BURGERS, 1, sets, work, f"strong1core-{r}", pin=0).wait().summary["seconds_per_step"])
        t2.append(Run(BURGERS, 2, sets, work, f"strong2-{r}").wait().summary["seconds_per_step"])
    return {
        "setting": "burgers.yaml, 3x50 tanh, float32, 8,192 points in all, Adam",
        "one_rank_seconds_per_step": median(t1),
        "two_rank_seconds_per_step": median(t2),
        "one_rank_one_core_seconds_per_step": median(t1core),
        "one_rank_runs": t1,
        "one_rank_one_core_runs": t1core,
        "two_rank_runs": t2,
    }


def reference_file(work: Path) -> Path:
    """DeepXDE's reference grid (x: 256 on [-1, 1], t: 100 on [0, 0.99]) from pinnrun's own
    Cole-Hopf solver, in DeepXDE's file format: both tools are measured against one truth."""
    from pinnrun.problem.cole_hopf import burgers_cole_hopf

    x, t = np.linspace(-1, 1, 256), np.linspace(0, 0.99, 100)
    usol = burgers_cole_hopf(lambda z: -np.sin(np.pi * z), 0.01 / np.pi, x, t)
    path = work / "burgers_reference.npz"
    np.savez(path, x=x[:, None], t=t[:, None], usol=usol)
    return path


def deepxde(args: list[str], work: Path, name: str) -> dict:
    out = work / f"{name}.json"
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bench_deepxde.sh"), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench: DeepXDE {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return json.loads(out.read_text())


def peer(work: Path, steps: int, repeats: int, reference: Path) -> dict:
    dx, pr, dx_err, pr_err = [], [], [], []
    for r in range(repeats):
        d = deepxde(
            ["--mode", "steps", "--steps", str(steps), "--seed", str(r), "--reference", str(reference), "--quiet"],
            work,
            f"deepxde-steps-{r}",
        )
        dx.append(d["steps_per_s"])
        dx_err.append(d["l2_relative_error"])
        p = Run(DEEPXDE_SPEC, 1, adam_sets(steps) + [f"training.seed={r}"], work, f"peer-{r}").wait()
        pr.append(p.steps_per_second)
        pr_err.append(p.summary["l2_relative_error"])
    return {
        "setting": "DeepXDE's Burgers example: 3x20 tanh, 2,540 + 80 + 160 points, Adam lr 1e-3, float32",
        "steps": steps,
        "deepxde_steps_per_second": median(dx),
        "pinnrun_steps_per_second": median(pr),
        "deepxde_l2_after_steps": median(dx_err),
        "pinnrun_l2_after_steps": median(pr_err),
        "deepxde_runs": dx,
        "pinnrun_runs": pr,
        "deepxde_versions": d.get("versions", {}),
    }


def full(work: Path, reference: Path) -> dict:
    """DeepXDE's full example once, then the time pinnrun needs to reach its error."""
    d = deepxde(["--mode", "full", "--seed", "0", "--reference", str(reference), "--quiet"], work, "deepxde-full")
    target = d["l2_relative_error"]
    tries = {}
    for ranks in (1, 2):  # a shortened budget: only the time to the target matters here
        run = Run(
            BURGERS, ranks, ["training.adam.steps=1000", "training.lbfgs.steps=2500"], work, f"to-accuracy-{ranks}"
        ).wait()
        tries[ranks] = {
            "seconds_to_target": run.seconds_to_error(target),
            "final_l2": run.summary["l2_relative_error"],
            "wall_seconds": run.summary["wall_seconds"],
        }
    lbfgs = Run(
        DEEPXDE_SPEC,
        1,
        ["training.adam.steps=2000", "training.lbfgs.steps=1000", "training.log_every=200"],
        work,
        "lbfgs-rate",
    ).wait()
    phase = next(p for p in lbfgs.summary["phases"] if p["name"] == "lbfgs")
    best = min(
        (r for r in tries if tries[r]["seconds_to_target"] is not None),
        key=lambda r: tries[r]["seconds_to_target"],
        default=None,
    )
    return {
        "deepxde": {
            "wall_seconds": d["wall_s"],
            "adam_seconds": d["adam"]["train_call_s"],
            "lbfgs_seconds": d["lbfgs"]["train_call_s"],
            "lbfgs_iterations": d["lbfgs"]["iterations"],
            "lbfgs_iterations_per_second": d["lbfgs"]["iterations_per_s"],
            "lbfgs_objective_evaluations": d["lbfgs"]["objective_evaluations"],
            "final_l2": target,
        },
        "pinnrun": {
            "problem": "burgers.yaml (hard constraints, 8,192 points, Adam 1000 then L-BFGS 2500)",
            "by_ranks": tries,
            "best_ranks": best,
            "seconds_to_target": tries[best]["seconds_to_target"] if best else None,
        },
        "lbfgs": {
            "setting": "burgers_deepxde.yaml, 1 rank",
            "pinnrun_iterations_per_second": 1.0 / phase["seconds_per_step"],
            "pinnrun_iterations": phase["steps"],
        },
    }


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (
            int(line.split()[1]) // 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        None,
    )
    import horovod
    import tensorflow as tf

    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": mem,
        "host": platform.node(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "horovod": horovod.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000, help="Adam steps per timed run")
    parser.add_argument("--no-peer", action="store_true", help="skip DeepXDE altogether")
    parser.add_argument(
        "--no-full",
        action="store_true",
        help="skip the full DeepXDE example (Adam 15,000 then L-BFGS: the longest part)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--work", type=Path, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: rewrite --doc's generated part from the results in --out",
    )
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(args.out.read_text())
        write_doc(args.doc, results)
        print(render(results))
        return 0

    work = args.work or Path(tempfile.mkdtemp(prefix="pinnrun-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results = {
        "machine": machine(),
        "repeats": args.repeats,
        "steps": args.steps,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    print(f"bench: runs in {work}", flush=True)
    for name, measure in (
        ("scaling", lambda: single_and_weak(work, args.steps, args.repeats)),
        ("strong", lambda: strong(work, args.steps, args.repeats)),
    ):
        results[name] = measure()
        print(f"bench: {name} done", flush=True)
    if not args.no_peer:
        reference = reference_file(work)
        results["peer"] = peer(work, args.steps, args.repeats, reference)
        print("bench: peer done", flush=True)
        if not args.no_full:
            results["full"] = full(work, reference)
            print("bench: full done", flush=True)
    results["duration_seconds"] = time.time() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    write_doc(args.doc, results)
    print(render(results))
    return 0


def paired_ratio(numerators: list[float], denominators: list[float]) -> dict:
    """The one definition of every ratio the bench reports: a ratio within each repeat (its
    runs ran back to back, so both saw the same state of the machine), then the median of those
    per-repeat ratios. Not the ratio of the medians, which pairs runs of different repeats."""
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError(f"paired_ratio: {len(numerators)} numerators for {len(denominators)} denominators")
    runs = [a / b for a, b in zip(numerators, denominators)]
    return {"median": median(runs), "runs": runs}


def show_ratio(ratio: dict, digits: int = 2) -> str:
    """The median, then every per-repeat ratio it is the median of (alone when there is one run)."""
    head = f"{ratio['median']:.{digits}f}"
    if len(ratio["runs"]) == 1:
        return head
    return f"{head} (per repeat: {', '.join(f'{x:.{digits}f}' for x in ratio['runs'])})"


def ratios(r: dict) -> dict:
    """Every ratio of the report, from the runs kept in the results."""
    weak, strong_ = r["scaling"]["weak"], r["strong"]
    out = {
        "weak": paired_ratio(weak["two_rank_runs"], weak["ceiling_runs"]),
        "weak_to_slower": paired_ratio(weak["two_rank_runs"], weak["slower_process_runs"]),
        # seconds per step: the speedup is the slower time over the faster
        "strong": paired_ratio(strong_["one_rank_runs"], strong_["two_rank_runs"]),
        "strong_per_core": paired_ratio(strong_["one_rank_one_core_runs"], strong_["two_rank_runs"]),
        "one_rank_cores": paired_ratio(strong_["one_rank_one_core_runs"], strong_["one_rank_runs"]),
    }
    if "peer" in r:
        out["peer"] = paired_ratio(r["peer"]["pinnrun_runs"], r["peer"]["deepxde_runs"])
    if "full" in r:
        f = r["full"]
        if f["pinnrun"]["seconds_to_target"]:
            out["time_to_target"] = paired_ratio([f["pinnrun"]["seconds_to_target"]], [f["deepxde"]["wall_seconds"]])
        out["lbfgs"] = paired_ratio(
            [f["lbfgs"]["pinnrun_iterations_per_second"]], [f["deepxde"]["lbfgs_iterations_per_second"]]
        )
    return out


def render(r: dict) -> str:
    m, s, st = r["machine"], r["scaling"], r["strong"]
    q = ratios(r)
    rows = [
        (
            "single rank, steps/s (points/s)",
            f"{s['single']['steps_per_second']:.0f} ({s['single']['points_per_second']:,.0f})",
            "-",
        ),
        (
            "weak, steps/s per rank: 2-rank job; two independent processes (their mean); the slower process",
            f"{median(s['weak']['two_rank_runs']):.0f}; {median(s['weak']['ceiling_runs']):.0f}; "
            f"{median(s['weak']['slower_process_runs']):.0f}",
            "-",
        ),
        ("weak: 2-rank job / two independent processes", show_ratio(q["weak"]), ">= 0.97"),
        ("weak: 2-rank job / the slower of the two processes", show_ratio(q["weak_to_slower"]), "-"),
        (
            "strong, 8,192 points, ms/step: 1 rank on all cores; 1 rank on one core; 2 ranks",
            "; ".join(
                f"{1e3 * median(st[k]):.1f}" for k in ("one_rank_runs", "one_rank_one_core_runs", "two_rank_runs")
            ),
            "-",
        ),
        ("strong: speedup 2 ranks vs 1 rank on all cores", show_ratio(q["strong"]), ">= 1.85"),
        ("strong: speedup 2 ranks vs 1 rank on one core", show_ratio(q["strong_per_core"]), "-"),
        ("1 rank on all cores vs on one core (speedup)", show_ratio(q["one_rank_cores"]), "-"),
        ("start-up to first step, 1 rank", f"{s['startup']['one_rank_seconds']:.1f} s", "-"),
        ("start-up to first step, 2 ranks", f"{s['startup']['two_rank_seconds']:.1f} s", "<= 10 s"),
    ]
    if "peer" in r:
        p = r["peer"]
        rows.append(
            (
                f"vs DeepXDE, {p['steps']} Adam steps, steps/s: pinnrun; DeepXDE",
                f"{median(p['pinnrun_runs']):.0f}; {median(p['deepxde_runs']):.0f}",
                "-",
            )
        )
        rows.append(("vs DeepXDE: pinnrun / DeepXDE steps/s", show_ratio(q["peer"]), ">= 1.5"))
        rows.append(
            (
                f"L2 error after {p['steps']} steps: pinnrun; DeepXDE",
                f"{p['pinnrun_l2_after_steps']:.2e}; {p['deepxde_l2_after_steps']:.2e}",
                "pinnrun <=",
            )
        )
    if "full" in r:
        f = r["full"]
        to = f["pinnrun"]["seconds_to_target"]
        rows.append(
            (
                "time to DeepXDE's final error, one run each: pinnrun / DeepXDE",
                (
                    f"{to:.0f} s / {f['deepxde']['wall_seconds']:.0f} s = {show_ratio(q['time_to_target'], 3)}"
                    if to
                    else f"not reached / {f['deepxde']['wall_seconds']:.0f} s"
                )
                + f" (L2 {f['deepxde']['final_l2']:.2e})",
                "<= 0.1",
            )
        )
        rows.append(
            (
                "L-BFGS iterations/s, one run each: pinnrun / DeepXDE",
                f"{f['lbfgs']['pinnrun_iterations_per_second']:.0f} / "
                f"{f['deepxde']['lbfgs_iterations_per_second']:.1f} = {show_ratio(q['lbfgs'], 0)}x",
                ">= 10x",
            )
        )
    lines = [
        f"Measured {m['date']} on {m['host']}: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
        f"Python {m['python']}, TensorFlow {m['tensorflow']}, Horovod {m['horovod']}; {r['repeats']} repeats, "
        f"{r['steps']} Adam steps per timed run (`{r['command']}`). Rates, times and errors are medians "
        f"over the repeats. A ratio is taken within each repeat (its runs ran back to back) and the median "
        f"of those is shown, then the per-repeat ratios; it is not the ratio of the median rates shown in "
        f"other rows.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def write_doc(path: Path, results: dict) -> None:
    text = path.read_text() if path.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{BEGIN}\n{render(results)}\n{END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
