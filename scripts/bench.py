#!/usr/bin/env python
"""pinnrun's benchmark: speed, scaling, start-up, and DeepXDE as the peer, in one run.

    .venv/bin/python scripts/bench.py [--repeats 3] [--steps 2000] [--no-peer] [--no-full]

Every number comes from real `pinnrun train` runs (and DeepXDE runs through
scripts/bench_deepxde.sh, in its own virtual environment) on this machine,
medians over --repeats. Writes benchmarks/results.json and the generated part
of docs/performance.md (between its bench markers).
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

    def __init__(self, spec: Path, ranks: int, sets: list[str], work: Path, name: str, pin: int | None = None):
        self.dir = work / name
        cmd = PINNRUN + ["train", str(spec), "--np", str(ranks), "--out", str(self.dir)]
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
        "single": {"steps_per_second": median(single), "points_per_second": 2048 * median(single),
                   "runs": single},
        "weak": {"ceiling_steps_per_second": median(ceiling), "two_rank_steps_per_second": median(weak),
                 "ratio": median(w / c for w, c in zip(weak, ceiling)), "ceiling_runs": ceiling, "two_rank_runs": weak,
                 "slower_process_steps_per_second": median(slower), "slower_process_runs": slower,
                 "ratio_to_slower_process": median(w / c for w, c in zip(weak, slower))},
        "startup": {"one_rank_seconds": median(start1), "two_rank_seconds": median(start2),
                    "one_rank_runs": start1, "two_rank_runs": start2},
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
    return {"setting": "burgers.yaml, 3x50 tanh, float32, 8,192 points in all, Adam",
            "one_rank_seconds_per_step": median(t1), "two_rank_seconds_per_step": median(t2),
            "one_rank_one_core_seconds_per_step": median(t1core),
            "speedup": median(a / b for a, b in zip(t1, t2)),
            "speedup_per_core": median(a / b for a, b in zip(t1core, t2)),
            "one_rank_runs": t1, "one_rank_one_core_runs": t1core, "two_rank_runs": t2}


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
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "bench_deepxde.sh"), *args, "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"bench: DeepXDE {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return json.loads(out.read_text())


def peer(work: Path, steps: int, repeats: int, reference: Path) -> dict:
    dx, pr, dx_err, pr_err = [], [], [], []
    for r in range(repeats):
        d = deepxde(["--mode", "steps", "--steps", str(steps), "--seed", str(r), "--reference", str(reference),
                     "--quiet"], work, f"deepxde-steps-{r}")
        dx.append(d["steps_per_s"])
        dx_err.append(d["l2_relative_error"])
        p = Run(DEEPXDE_SPEC, 1, adam_sets(steps) + [f"training.seed={r}"], work, f"peer-{r}").wait()
        pr.append(p.steps_per_second)
        pr_err.append(p.summary["l2_relative_error"])
    return {"setting": "DeepXDE's Burgers example: 3x20 tanh, 2,540 + 80 + 160 points, Adam lr 1e-3, float32",
            "steps": steps, "deepxde_steps_per_second": median(dx), "pinnrun_steps_per_second": median(pr),
            "ratio": median(pr) / median(dx), "deepxde_l2_after_steps": median(dx_err),
            "pinnrun_l2_after_steps": median(pr_err), "deepxde_runs": dx, "pinnrun_runs": pr,
            "deepxde_versions": d.get("versions", {})}


def full(work: Path, reference: Path) -> dict:
    """DeepXDE's full example once, then the time pinnrun needs to reach its error."""
    d = deepxde(["--mode", "full", "--seed", "0", "--reference", str(reference), "--quiet"], work, "deepxde-full")
    target = d["l2_relative_error"]
    tries = {}
    for ranks in (1, 2):  # a shortened budget: only the time to the target matters here
        run = Run(BURGERS, ranks, ["training.adam.steps=1000", "training.lbfgs.steps=2500"], work,
                  f"to-accuracy-{ranks}").wait()
        tries[ranks] = {"seconds_to_target": run.seconds_to_error(target),
                        "final_l2": run.summary["l2_relative_error"], "wall_seconds": run.summary["wall_seconds"]}
    lbfgs = Run(DEEPXDE_SPEC, 1, ["training.adam.steps=2000", "training.lbfgs.steps=1000",
                                  "training.log_every=200"], work, "lbfgs-rate").wait()
    phase = next(p for p in lbfgs.summary["phases"] if p["name"] == "lbfgs")
    best = min((r for r in tries if tries[r]["seconds_to_target"] is not None),
               key=lambda r: tries[r]["seconds_to_target"], default=None)
    return {
        "deepxde": {"wall_seconds": d["wall_s"], "adam_seconds": d["adam"]["train_call_s"],
                    "lbfgs_seconds": d["lbfgs"]["train_call_s"], "lbfgs_iterations": d["lbfgs"]["iterations"],
                    "lbfgs_iterations_per_second": d["lbfgs"]["iterations_per_s"], "final_l2": target},
        "pinnrun": {"problem": "burgers.yaml (hard constraints, 8,192 points, Adam 1000 then L-BFGS 2500)",
                    "by_ranks": tries, "best_ranks": best,
                    "seconds_to_target": tries[best]["seconds_to_target"] if best else None},
        "time_ratio": (tries[best]["seconds_to_target"] / d["wall_s"]) if best else None,
        "lbfgs": {"setting": "burgers_deepxde.yaml, 1 rank", "pinnrun_iterations_per_second":
                  1.0 / phase["seconds_per_step"], "pinnrun_iterations": phase["steps"],
                  "ratio": (1.0 / phase["seconds_per_step"]) / d["lbfgs"]["iterations_per_s"]},
    }


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) // 1024 ** 2 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), None)
    import horovod
    import tensorflow as tf

    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "memory_gib": mem, "host": platform.node(),
            "python": platform.python_version(), "tensorflow": tf.__version__, "horovod": horovod.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000, help="Adam steps per timed run")
    parser.add_argument("--no-peer", action="store_true", help="skip DeepXDE altogether")
    parser.add_argument("--no-full", action="store_true", help="skip the full DeepXDE example (~10 min)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--work", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="pinnrun-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "repeats": args.repeats, "steps": args.steps,
               "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    print(f"bench: runs in {work}", flush=True)
    for name, measure in (("scaling", lambda: single_and_weak(work, args.steps, args.repeats)),
                          ("strong", lambda: strong(work, args.steps, args.repeats))):
        results[name] = measure()
        print(f"bench: {name} done", flush=True)
    if not args.no_peer:
        reference = reference_file(work)
        results["peer"] = peer(work, args.steps, args.repeats, reference)
        print("bench: peer done", flush=True)
        if not args.no_full:
            results["full"] = full(work, reference)
            print("bench: full done", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    write_doc(args.doc, results)
    print(render(results))
    return 0


def render(r: dict) -> str:
    m, s = r["machine"], r["scaling"]
    rows = [
        ("single rank, steps/s (points/s)", f"{s['single']['steps_per_second']:.0f} "
                                            f"({s['single']['points_per_second']:,.0f})", "-"),
        ("weak: 2-rank / two independent processes", f"{s['weak']['ratio']:.2f} "
         f"({s['weak']['two_rank_steps_per_second']:.0f} vs {s['weak']['ceiling_steps_per_second']:.0f} steps/s)",
         ">= 0.97"),
        ("weak: 2-rank / the slower of the two processes", f"{s['weak']['ratio_to_slower_process']:.2f} "
         f"({s['weak']['two_rank_steps_per_second']:.0f} vs {s['weak']['slower_process_steps_per_second']:.0f} steps/s)",
         "-"),
        ("strong: speedup 2 ranks vs 1 rank on all cores, 8,192 points", f"{r['strong']['speedup']:.2f}", ">= 1.85"),
        ("strong: speedup 2 ranks vs 1 rank on one core", f"{r['strong']['speedup_per_core']:.2f}", "-"),
        ("start-up to first step, 1 rank", f"{s['startup']['one_rank_seconds']:.1f} s", "-"),
        ("start-up to first step, 2 ranks", f"{s['startup']['two_rank_seconds']:.1f} s", "<= 10 s"),
    ]
    if "peer" in r:
        p = r["peer"]
        rows.append((f"vs DeepXDE, {p['steps']} Adam steps: steps/s ratio",
                     f"{p['ratio']:.2f} ({p['pinnrun_steps_per_second']:.0f} vs {p['deepxde_steps_per_second']:.0f})",
                     ">= 1.5"))
        rows.append((f"L2 error after {p['steps']} steps (pinnrun / DeepXDE)",
                     f"{p['pinnrun_l2_after_steps']:.2e} / {p['deepxde_l2_after_steps']:.2e}", "pinnrun <="))
    if "full" in r:
        f = r["full"]
        to = f["pinnrun"]["seconds_to_target"]
        rows.append(("time to DeepXDE's final error (pinnrun / DeepXDE)",
                     (f"{to:.0f} s / {f['deepxde']['wall_seconds']:.0f} s = {f['time_ratio']:.3f}" if to else
                      f"not reached / {f['deepxde']['wall_seconds']:.0f} s") +
                     f" (L2 {f['deepxde']['final_l2']:.2e})", "<= 0.1"))
        rows.append(("L-BFGS iterations/s (pinnrun / DeepXDE)",
                     f"{f['lbfgs']['pinnrun_iterations_per_second']:.0f} / "
                     f"{f['deepxde']['lbfgs_iterations_per_second']:.1f} = {f['lbfgs']['ratio']:.0f}x", ">= 10x"))
    lines = [f"Measured {m['date']} on {m['host']}: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
             f"Python {m['python']}, TensorFlow {m['tensorflow']}, Horovod {m['horovod']}; medians over "
             f"{r['repeats']} repeats, {r['steps']} Adam steps per timed run (`{r['command']}`).", "",
             "| measure | result | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def write_doc(path: Path, results: dict) -> None:
    text = path.read_text() if path.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{BEGIN}\n{render(results)}\n{END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
