"""`pinnrun scale --mode weak|strong`: one training per size, then the scaling table,
the fitted cost model and its predictions beyond the measured sizes."""

from __future__ import annotations

import platform
import time

import numpy as np
from rich.console import Console
from rich.markup import escape

from pinnrun import __version__
from pinnrun.numbers import per_step, sci
from pinnrun.results.outcomes import interrupted_exit
from pinnrun.results.run_folder import new_run_dir
from pinnrun.scale.cost_model import PREDICT_RANKS, NotEnoughData, fit
from pinnrun.scale.metrics import add_speedups
from pinnrun.scale.report import print_study, write_outputs
from pinnrun.scale.runner import Launch, Outcome, run_training, save_study, step_overrides
from pinnrun.problem.build import load_problem


def run_sweep(
    spec: str,
    mode: str,
    sizes: list[int],
    steps: int | None,
    repeat: int,
    launch: Launch,
    oversubscribe: bool,
    overrides: list[str],
    out: str | None,
    console: Console,
    predict: tuple[int, ...] = PREDICT_RANKS,
) -> int:
    loaded, _ = load_problem(spec, overrides)  # bad input stops here, before anything runs
    study_dir = new_run_dir(out, f"scale-{loaded.spec.name}-{mode}")
    run_overrides = list(overrides) + step_overrides(steps, loaded.spec.training.log_every)
    capacity = launch.capacity()
    study = {
        "kind": "scaling",
        "mode": mode,
        "problem": loaded.spec.name,
        "spec": str(loaded.path),
        "overrides": list(overrides),
        "steps": steps,
        "repeat": repeat,
        "sweep": sizes,
        "capacity": capacity,
        "host": platform.node(),
        "pinnrun": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": [],
        "model": None,
        "predicted": [],
    }
    console.print(f"scaling study ({mode}) of {loaded.spec.name} on {sizes} rank(s): {study_dir}")
    interrupted = 0  # the exit status of a study a signal stopped
    for k in sizes:
        over = capacity is not None and k > capacity
        if over and not oversubscribe:
            study["rows"].append(
                {
                    "ranks": k,
                    "status": "skipped",
                    "oversubscribed": True,
                    "runs": [],
                    "reason": f"{k} ranks on {capacity} {launch.unit()}: add --oversubscribe to run it anyway",
                }
            )
            console.print(f"  {k:>4} ranks: [yellow]skipped[/yellow] ({study['rows'][-1]['reason']})")
            continue
        outcomes = []
        for r in range(repeat):
            name = f"ranks-{k}" + (f"-rep{r + 1}" if repeat > 1 else "")
            with console.status(f"training on {k} rank(s)" + (f", repeat {r + 1}/{repeat}" if repeat > 1 else "")):
                outcome = run_training(study_dir, name, spec, run_overrides, k, mode, launch, probe=True)
            outcomes.append(outcome)
            console.print(f"  {k:>4} ranks: {_line(outcome)}", highlight=False)
            if outcome.status == "interrupted":
                interrupted = interrupted_exit(outcome.summary.get("signal"))
                break
        study["rows"].append(size_row(k, outcomes, over))
        save_study(study_dir, study)
        if interrupted:
            break
    finish_study(study, predict)
    write_outputs(study_dir, study)
    print_study(study, console, study_dir)
    return interrupted or 0


def size_row(ranks: int, outcomes: list[Outcome], oversubscribed: bool) -> dict:
    """One measured size: medians over its finished repeats."""
    row = {
        "ranks": ranks,
        "oversubscribed": oversubscribed,
        "runs": [o.run for o in outcomes],
        "repeats_finished": sum(o.finished for o in outcomes),
    }
    done = [o.summary for o in outcomes if o.finished and o.summary.get("seconds_per_step")]
    if not done:
        failed = next((o for o in outcomes if not o.finished), None)
        row.update(
            status=failed.status if failed else "failed",
            reason=failed.reason if failed else "no timed Adam steps (use --steps K with K >= 3)",
        )
        return row
    s0 = done[0]
    times = [s["seconds_per_step"] for s in done]
    t = float(np.median(times))
    row.update(
        status="finished",
        reason=None,
        points_per_rank=sum(s0["points"]["per_rank"].values()),
        global_points=sum(s0["points"]["global"].values()),
        seconds_per_step=t,
        seconds_per_step_min=min(times),
        seconds_per_step_max=max(times),
        points_per_second=sum(s0["points"]["global"].values()) / t,
        allreduce_share=_median(s.get("allreduce_share") for s in done),
        final_loss=_median(s.get("final_loss") for s in done),
        l2_relative_error=_median(s.get("l2_relative_error") for s in done),
        test_loss=_median(s.get("test_loss") for s in done),
        step_costs=[s["step_costs"] for s in done if s.get("step_costs")],
    )
    return row


def finish_study(study: dict, predict: tuple[int, ...]) -> None:
    """Speedups, the fitted cost model, its check against the measured sizes and its predictions."""
    rows = study["rows"]
    add_speedups(study["mode"], rows)
    done = [r for r in rows if r["status"] == "finished"]
    fitted = [r for r in done if not r["oversubscribed"]]  # the model gives every rank its own core/GPU
    compute = [
        (c["points_per_rank"], c["seconds_per_step"])
        for r in fitted
        for costs in r["step_costs"]
        for c in costs["compute"]
    ]
    allreduce = [
        (r["ranks"], a["bytes"], a["seconds"]) for r in fitted for costs in r["step_costs"] for a in costs["allreduce"]
    ]
    grad_bytes = next((costs["gradient_bytes"] for r in done for costs in r["step_costs"]), 0)
    try:
        model = fit(compute, allreduce, grad_bytes)
    except NotEnoughData as err:
        study["model"], study["model_note"] = None, f"no cost model: {err}"
        return
    study["model"] = model.to_dict()
    problem_points = done[0]["points_per_rank"] if study["mode"] == "weak" else done[0]["global_points"]
    study["model"]["problem_points"] = problem_points
    for r in done:
        r["model_seconds_per_step"] = model.step(r["ranks"], r["points_per_rank"])
    measured = {r["ranks"] for r in rows}
    # strong scaling ends where a rank would hold less than one point
    study["predicted"] = [
        model.predict(mode, p, problem_points)
        for mode in ("weak", "strong")
        for p in predict
        if p not in measured and (mode == "weak" or p <= problem_points)
    ]


def _median(values) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def _line(o: Outcome) -> str:
    if not o.finished:
        return f"[red]{o.status}[/red]: {escape(str(o.reason))}"  # a run's reason is text, not markup
    s = o.summary
    l2 = s.get("l2_relative_error")
    return (
        f"[green]finished[/green] in {o.seconds:.0f} s, {per_step(s['seconds_per_step'])}/step"
        + (f", L2 {sci(l2, 2)}" if l2 is not None else "")
        + f"  ({o.run})"
    )
