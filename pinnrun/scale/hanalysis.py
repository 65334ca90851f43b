"""`pinnrun scale --mode points`: the h-analysis. The error against the number of
collocation points, over several seeds, with the train-test gap.

Each PDE term gets the given global point count (strong scaling, so the count
does not depend on the ranks); condition terms keep the spec's counts. Seed s
trains with `training.seed + s`: a new initialisation and a new scrambling of
the point sequence. The test loss is taken on one fixed held-out set
(pinnrun/sampling/holdout.py), the same for every run.
"""

from __future__ import annotations

import platform
import time

import numpy as np
from rich.console import Console
from rich.markup import escape

from pinnrun import __version__
from pinnrun.numbers import sci
from pinnrun.results.outcomes import interrupted_exit
from pinnrun.results.run_folder import new_run_dir
from pinnrun.scale.report import print_study, write_outputs
from pinnrun.scale.runner import Launch, Outcome, run_training, save_study, step_overrides
from pinnrun.problem.build import load_problem


def run_points(
    spec: str,
    counts: list[int],
    seeds: int,
    ranks: int,
    steps: int | None,
    launch: Launch,
    overrides: list[str],
    out: str | None,
    console: Console,
) -> int:
    loaded, _ = load_problem(spec, overrides)
    pde_terms = list(loaded.spec.pde)
    base_seed = loaded.spec.training.seed
    study_dir = new_run_dir(out, f"scale-{loaded.spec.name}-points")
    common = list(overrides) + step_overrides(steps, loaded.spec.training.log_every)
    study = {
        "kind": "points",
        "mode": "points",
        "problem": loaded.spec.name,
        "spec": str(loaded.path),
        "overrides": list(overrides),
        "steps": steps,
        "seeds": seeds,
        "ranks": ranks,
        "points": counts,
        "pde_terms": pde_terms,
        "host": platform.node(),
        "pinnrun": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": [],
    }
    console.print(f"h-analysis of {loaded.spec.name}: {counts} points x {seeds} seeds on {ranks} rank(s): {study_dir}")
    interrupted = 0  # the exit status of a study a signal stopped
    for n in counts:
        outcomes = []
        for s in range(seeds):
            sets = [f"sampling.points.{t}={n}" for t in pde_terms] + [f"training.seed={base_seed + s}"]
            name = f"points-{n}-seed-{s}"
            with console.status(f"{n} points, seed {s + 1}/{seeds}"):
                outcome = run_training(study_dir, name, spec, common + sets, ranks, "strong", launch)
            outcomes.append(outcome)
            if not outcome.finished:
                console.print(f"  {name}: [red]{outcome.status}[/red]: {escape(str(outcome.reason))}", highlight=False)
            if outcome.status == "interrupted":
                interrupted = interrupted_exit(outcome.summary.get("signal"))
                break
        study["rows"].append(points_row(n, outcomes))
        console.print(f"  {n:>8,} points: {_line(study['rows'][-1])}", highlight=False)
        save_study(study_dir, study)
        if interrupted:
            break
    write_outputs(study_dir, study)
    print_study(study, console, study_dir)
    return interrupted or 0


def points_row(n: int, outcomes: list[Outcome]) -> dict:
    done = [o for o in outcomes if o.finished]
    row = {
        "global_points": n,
        "runs": len(outcomes),
        "finished": len(done),
        "run_folders": [o.run for o in outcomes],
        "failed": [{"run": o.run, "status": o.status, "reason": o.reason} for o in outcomes if not o.finished],
    }
    if not done:
        return row
    l2 = [o.summary.get("l2_relative_error") for o in done]
    l2 = [v for v in l2 if v is not None]
    gap = [o.summary["train_test_gap"] for o in done]
    row.update(
        _stats("l2", l2),
        **_stats("gap", gap),
        **_stats("train_loss", [o.summary["train_loss"] for o in done]),
        **_stats("test_loss", [o.summary["test_loss"] for o in done]),
        seconds_median=float(np.median([o.summary["wall_seconds"] for o in done])),
    )
    return row


def _stats(key: str, values: list[float]) -> dict:
    if not values:
        return {f"{key}_{s}": None for s in ("median", "q25", "q75", "min", "max")} | {f"{key}_values": []}
    q25, med, q75 = np.percentile(values, [25, 50, 75])
    return {
        f"{key}_median": float(med),
        f"{key}_q25": float(q25),
        f"{key}_q75": float(q75),
        f"{key}_min": float(min(values)),
        f"{key}_max": float(max(values)),
        f"{key}_values": list(values),
    }


def _line(row: dict) -> str:
    if not row["finished"]:
        return f"[red]no run finished[/red] ({row['runs']} tried)"
    l2 = row.get("l2_median")
    return (
        f"{row['finished']}/{row['runs']} finished, "
        + (f"median L2 {sci(l2, 2)}, " if l2 is not None else "")
        + f"median train-test gap {sci(row['gap_median'], 2)}"
    )
