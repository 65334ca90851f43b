"""A study's tables (terminal), CSV and the files written beside scaling.json."""

from __future__ import annotations

import csv
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pinnrun.numbers import DASH, milliseconds, percent, sci, si, signed_percent, span
from pinnrun.scale.runner import save_study

CSV, PLOT = "scaling.csv", "scaling.png"

MEASURED_COLUMNS = [
    "ranks",
    "status",
    "oversubscribed",
    "points_per_rank",
    "global_points",
    "seconds_per_step",
    "seconds_per_step_min",
    "seconds_per_step_max",
    "points_per_second",
    "speedup",
    "efficiency",
    "allreduce_share",
    "final_loss",
    "l2_relative_error",
    "test_loss",
    "model_seconds_per_step",
    "reason",
]
PREDICTED_COLUMNS = [
    "mode",
    "ranks",
    "points_per_rank",
    "global_points",
    "seconds_per_step",
    "compute_seconds",
    "allreduce_seconds",
    "allreduce_share",
    "speedup",
    "efficiency",
]
POINTS_COLUMNS = [
    "global_points",
    "runs",
    "finished",
    "l2_median",
    "l2_q25",
    "l2_q75",
    "l2_min",
    "l2_max",
    "gap_median",
    "gap_q25",
    "gap_q75",
    "gap_min",
    "gap_max",
    "train_loss_median",
    "test_loss_median",
    "seconds_median",
]


def write_outputs(study_dir: Path, study: dict) -> None:
    from pinnrun.scale.plot import plot_study

    study["files"] = {"csv": CSV, "plot": PLOT}
    write_csv(study_dir / CSV, study)
    plot_study(study, study_dir / PLOT)
    save_study(study_dir, study)


def write_csv(path: Path, study: dict) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if study["kind"] == "points":
            w.writerow(POINTS_COLUMNS)
            w.writerows([[row.get(c) for c in POINTS_COLUMNS] for row in study["rows"]])
            return
        w.writerow(["source", *MEASURED_COLUMNS[:2], "mode", *MEASURED_COLUMNS[2:]])
        for row in study["rows"]:
            w.writerow(
                ["measured", row["ranks"], row["status"], study["mode"], *[row.get(c) for c in MEASURED_COLUMNS[2:]]]
            )
        for row in study["predicted"]:
            w.writerow(
                [
                    "predicted",
                    row["ranks"],
                    "model",
                    row["mode"],
                    *[row.get(c) if c in row else None for c in MEASURED_COLUMNS[2:]],
                ]
            )


def print_study(study: dict, console: Console, study_dir: Path | None = None) -> None:
    for table in study_tables(study):
        console.print(table)
    for line in study_notes(study):
        console.print(line, highlight=False)
    if study_dir is not None:
        console.print(f"written: {study_dir / 'scaling.json'}, {CSV}, {PLOT}", highlight=False)


def study_tables(study: dict) -> list[Table]:
    if study["kind"] == "points":
        return [_points_table(study)]
    tables = [_measured_table(study)]
    if study.get("predicted"):
        tables.append(_predicted_table(study))
    return tables


def study_notes(study: dict) -> list[str]:
    """The lines under the tables: the cost model, and the error against points for weak sweeps."""
    notes = []
    if study["kind"] == "scaling":
        notes += [
            f"{r['ranks']} ranks {r['status']}: {r['reason']}" for r in study["rows"] if r["status"] != "finished"
        ]
        if any(r["oversubscribed"] and r["status"] == "finished" for r in study["rows"]):
            notes.append("* oversubscribed: more ranks than cores/GPUs, timings are not scaling results")
        m = study.get("model")
        if m:
            notes.append(
                f"cost model (fitted from this sweep): compute {milliseconds(m['compute_fixed_seconds'])} ms "
                f"+ {m['compute_seconds_per_point'] * 1e9:.3g} ns/point; ring all-reduce latency "
                f"{m['latency_seconds'] * 1e6:.3g} us/step, {_bandwidth(m['seconds_per_byte'])}; "
                f"gradient {m['gradient_bytes']:,} bytes"
            )
        elif study.get("model_note"):
            notes.append(study["model_note"])
        notes += model_fit_notes(study) + implausible_notes(study)
        done = [r for r in study["rows"] if r["status"] == "finished" and r.get("l2_relative_error") is not None]
        if study["mode"] == "weak" and len(done) > 1:
            notes.append(
                "weak scaling, error against global points: "
                + ", ".join(
                    f"{r['global_points']:,} pts ({r['ranks']} rank{'s' * (r['ranks'] > 1)}): {sci(r['l2_relative_error'], 2)}"
                    for r in done
                )
            )
    return notes


EFFICIENCY_LIMIT = 1.05  # more than this is noise or a cache effect, not data parallelism
MODEL_MISS = 0.25  # the cost model off by more than this at a measured size: trust its predictions less


def model_fit_notes(study: dict) -> list[str]:
    """How far the fitted model is from each measured size's time per step."""
    rows = [r for r in study["rows"] if r["status"] == "finished" and r.get("model_seconds_per_step")]
    if not rows:
        return []
    misses = [(r, r["model_seconds_per_step"] / r["seconds_per_step"] - 1) for r in rows]
    notes = [
        "cost model against the measured sizes: "
        + ", ".join(
            f"{r['ranks']} rank{'s' * (r['ranks'] > 1)} {milliseconds(r['model_seconds_per_step'])} vs "
            f"{milliseconds(r['seconds_per_step'])} ms ({signed_percent(miss)})"
            for r, miss in misses
        )
    ]
    worst = max(abs(miss) for _, miss in misses)
    if worst > MODEL_MISS:
        notes.append(
            f"[yellow]warning:[/yellow] the model misses a measured size by {percent(worst)}: its predictions "
            "are rough (the probe's compute and all-reduce timings do not add up to the measured steps)"
        )
    return notes


def implausible_notes(study: dict) -> list[str]:
    """Results a data-parallel run cannot really give, and what to do about them."""
    notes = []
    again = " (repeat with --repeat 3 or more: the table then shows medians)" if study.get("repeat", 1) < 3 else ""
    for r in study["rows"]:
        if r["status"] != "finished" or r["ranks"] < 2:
            continue
        if r.get("efficiency") is not None and r["efficiency"] > EFFICIENCY_LIMIT:
            notes.append(
                f"[yellow]warning:[/yellow] {r['ranks']} ranks: efficiency {percent(r['efficiency'])} is more "
                "than one rank's: timing noise or a cache effect, not a speed-up to report" + again
            )
        if not r.get("allreduce_share"):
            notes.append(
                f"[yellow]warning:[/yellow] {r['ranks']} ranks: no all-reduce time was measured: the "
                "probe found none, so this size's communication cost is unknown" + again
            )
    return notes


def _measured_table(study: dict) -> Table:
    t = Table(title=f"{study['mode']} scaling of {study['problem']} (measured)", title_justify="left")
    for name in (
        "ranks",
        "pts/rank",
        "global pts",
        "ms/step",
        "pts/s",
        "speedup",
        "effic.",
        "all-reduce",
        "loss",
        "L2 error",
        "model ms",
    ):
        t.add_column(name, justify="right")
    for r in study["rows"]:
        ranks = f"{r['ranks']}" + ("*" if r["oversubscribed"] and r["status"] == "finished" else "")
        if r["status"] != "finished":
            t.add_row(ranks, r["status"], *[DASH] * 9, style="dim")
            continue
        spread = (
            f" ({milliseconds(r['seconds_per_step_min'])}-{milliseconds(r['seconds_per_step_max'])})"
            if r["seconds_per_step_max"] > r["seconds_per_step_min"]
            else ""
        )
        t.add_row(
            ranks,
            f"{r['points_per_rank']:,}",
            f"{r['global_points']:,}",
            milliseconds(r["seconds_per_step"]) + spread,
            si(r["points_per_second"]),
            f"{r['speedup']:.2f}",
            percent(r["efficiency"]),
            percent(r.get("allreduce_share")),
            sci(r.get("final_loss"), 2),
            sci(r.get("l2_relative_error"), 2),
            milliseconds(r.get("model_seconds_per_step")),
        )
    return t


def _predicted_table(study: dict) -> Table:
    t = Table(
        title="PREDICTED by the ring all-reduce cost model fitted above (the model's numbers, not "
        "measured; strong: points/rank is the largest rank's)",
        title_justify="left",
        style="cyan",
    )
    for name in (
        "mode",
        "ranks",
        "points/rank",
        "global points",
        "ms/step",
        "compute ms",
        "all-reduce ms",
        "all-reduce",
        "speedup",
        "efficiency",
    ):
        t.add_column(name, justify="left" if name == "mode" else "right")
    for r in study["predicted"]:
        t.add_row(
            r["mode"],
            str(r["ranks"]),
            f"{r['points_per_rank']:,.0f}",
            f"{r['global_points']:,.0f}",
            milliseconds(r["seconds_per_step"]),
            milliseconds(r["compute_seconds"]),
            milliseconds(r["allreduce_seconds"]),
            percent(r["allreduce_share"]),
            f"{r['speedup']:.3g}",
            percent(r["efficiency"]),
        )
    return t


def _points_table(study: dict) -> Table:
    t = Table(
        title=f"h-analysis of {study['problem']}: error against collocation points "
        f"({study['seeds']} seeds, {study['ranks']} rank(s))",
        title_justify="left",
    )
    for name in (
        "global points",
        "runs",
        "L2 median",
        "L2 IQR",
        "L2 min-max",
        "gap median",
        "gap IQR",
        "test loss",
        "s/run",
    ):
        t.add_column(name, justify="right", no_wrap=True)
    for r in study["rows"]:
        if not r.get("finished"):
            t.add_row(f"{r['global_points']:,}", f"0/{r['runs']}", *[DASH] * 7, style="dim")
            continue
        t.add_row(
            f"{r['global_points']:,}",
            f"{r['finished']}/{r['runs']}",
            sci(r["l2_median"], 2),
            span(r["l2_q25"], r["l2_q75"]),
            span(r["l2_min"], r["l2_max"]),
            sci(r["gap_median"], 2),
            span(r["gap_q25"], r["gap_q75"]),
            sci(r["test_loss_median"], 2),
            f"{r['seconds_median']:.1f}",
        )
    return t


def _bandwidth(seconds_per_byte: float) -> str:
    return f"{1 / seconds_per_byte / 1e9:.3g} GB/s" if seconds_per_byte > 0 else "bandwidth not resolved"
