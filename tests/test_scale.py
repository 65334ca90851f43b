"""`pinnrun scale`: speedup/efficiency maths, the cost model, the sweep loop, the
files it writes, and real 1,2-rank sweeps and an h-analysis on a tiny problem."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from helpers import PROBLEMS
from pinnrun.scale import sweep as sweep_module
from pinnrun.scale.cost_model import CostModel, NotEnoughData, fit
from pinnrun.scale.metrics import add_speedups, efficiency, speedup
from pinnrun.scale.runner import Launch, Outcome, step_overrides

# ---------------------------------------------------------------------------
# maths
# ---------------------------------------------------------------------------


def test_weak_efficiency_is_t1_over_tk_and_speedup_counts_the_grown_problem():
    assert efficiency("weak", 4, t_k=0.025, k0=1, t_k0=0.020) == pytest.approx(0.8)
    assert speedup("weak", 4, t_k=0.025, k0=1, t_k0=0.020) == pytest.approx(3.2)


def test_strong_efficiency_is_t1_over_k_tk():
    assert speedup("strong", 4, t_k=0.006, k0=1, t_k0=0.020) == pytest.approx(20 / 6)
    assert efficiency("strong", 4, t_k=0.006, k0=1, t_k0=0.020) == pytest.approx(0.020 / (4 * 0.006))


def test_speedups_are_relative_to_the_smallest_finished_size():
    rows = [
        {"ranks": 1, "seconds_per_step": None},
        {"ranks": 2, "seconds_per_step": 0.010},
        {"ranks": 4, "seconds_per_step": 0.006},
    ]
    add_speedups("strong", rows)
    assert "speedup" not in rows[0]
    assert rows[1]["speedup"] == pytest.approx(2.0) and rows[1]["efficiency"] == pytest.approx(1.0)
    assert rows[2]["speedup"] == pytest.approx(2 * 0.010 / 0.006)
    assert rows[2]["efficiency"] == pytest.approx(2 * 0.010 / (4 * 0.006))
    assert rows[2]["relative_to"] == 2


def test_ring_allreduce_cost_matches_the_hand_computed_value():
    m = CostModel(
        compute_fixed_seconds=1e-3,
        compute_seconds_per_point=2e-7,
        latency_seconds=5e-6,
        seconds_per_byte=1e-9,
        gradient_bytes=40_000,
    )
    # 8 ranks: 2*7 = 14 ring steps of 5 us, and 2*7/8 * 40 kB at 1 GB/s = 70 us
    assert m.allreduce(8) == pytest.approx(14 * 5e-6 + 70e-6)
    assert m.allreduce(1) == 0
    # weak, 10k points per rank: compute 1 ms + 2 ms = 3 ms, step 3 ms + 140 us
    row = m.predict("weak", 8, 10_000)
    assert row["seconds_per_step"] == pytest.approx(3e-3 + 140e-6)
    assert row["efficiency"] == pytest.approx(3e-3 / 3.14e-3)
    assert row["global_points"] == 80_000
    # strong, 10k points split over 8 ranks: compute 1 ms + 0.25 ms
    row = m.predict("strong", 8, 10_000)
    assert row["points_per_rank"] == 1250
    assert row["seconds_per_step"] == pytest.approx(1.25e-3 + 140e-6)
    assert row["speedup"] == pytest.approx(3e-3 / 1.39e-3)
    assert row["efficiency"] == pytest.approx(3e-3 / (8 * 1.39e-3))
    assert row["allreduce_share"] == pytest.approx(140e-6 / 1.39e-3)


def test_fit_recovers_the_parameters_that_made_the_timings():
    true = CostModel(2e-3, 3e-7, 40e-6, 2e-9, 20_000)
    compute = [(n, true.compute(n)) for n in (1000, 2000, 4096, 8192)]
    allreduce = [(p, b, true.allreduce(p, b)) for p in (2, 4) for b in (20_000, 80_000, 320_000, 1_280_000)]
    got = fit(compute, allreduce, 20_000)
    for name in ("compute_fixed_seconds", "compute_seconds_per_point", "latency_seconds", "seconds_per_byte"):
        assert getattr(got, name) == pytest.approx(getattr(true, name), rel=1e-12)  # exact data: rounding only (2e-16)


def test_fit_needs_a_size_with_an_allreduce():
    with pytest.raises(NotEnoughData, match="2 ranks or more"):
        fit([(100, 1e-3)], [], 1000)


def test_strong_predictions_hold_whole_points_per_rank():
    model = CostModel(1e-3, 1e-6, 1e-5, 1e-9, 4000)
    row = model.predict("strong", 16, 258)  # 258 / 16 = 16.125: the largest rank holds 17
    assert row["points_per_rank"] == 17 and row["compute_seconds"] == pytest.approx(1e-3 + 17e-6)
    assert model.predict("weak", 16, 258)["points_per_rank"] == 258


def _study(rows, repeat=1, model=True):
    base = {
        "status": "finished",
        "oversubscribed": False,
        "seconds_per_step": 1e-3,
        "allreduce_share": 0.2,
        "efficiency": 1.0,
        "model_seconds_per_step": 1e-3,
    }
    return {
        "kind": "scaling",
        "mode": "weak",
        "problem": "p",
        "repeat": repeat,
        "predicted": [],
        "model": None,
        "rows": [{**base, **r} for r in rows],
    }


def test_implausible_results_are_flagged_with_what_to_do():
    from pinnrun.scale.report import study_notes

    study = _study(
        [
            {"ranks": 1, "allreduce_share": None},
            {"ranks": 2, "efficiency": 1.35, "allreduce_share": 0.0},
            {"ranks": 4, "efficiency": 0.9},
        ]
    )
    notes = study_notes(study)
    assert sum("warning" in n for n in notes) == 2
    assert any("2 ranks: efficiency 135% is more than one rank's" in n and "--repeat 3" in n for n in notes)
    assert any("2 ranks: no all-reduce time was measured" in n for n in notes)
    assert not any("4 ranks" in n and "warning" in n for n in notes)  # plausible: nothing said
    assert not any("--repeat" in n for n in study_notes({**study, "repeat": 3}))


def test_the_model_fit_is_shown_against_each_measured_size():
    from pinnrun.scale.report import study_notes

    study = _study(
        [
            {"ranks": 1, "seconds_per_step": 1.94e-3, "model_seconds_per_step": 2.0e-3},
            {"ranks": 2, "seconds_per_step": 1.94e-3, "model_seconds_per_step": 2.79e-3},
        ]
    )
    notes = study_notes(study)
    assert "cost model against the measured sizes: 1 rank 2 vs 1.94 ms (+3%), 2 ranks 2.79 vs 1.94 ms (+44%)" in notes
    assert any("misses a measured size by 44%" in n for n in notes)


def test_steps_flag_times_adam_only_with_about_twenty_chunks():
    assert step_overrides(None, 100) == []
    assert step_overrides(400, 100) == ["training.adam.steps=400", "training.lbfgs=null", "training.log_every=20"]
    assert step_overrides(400, 5)[-1] == "training.log_every=5"


# ---------------------------------------------------------------------------
# the sweep loop, with the trainings replaced by given outcomes
# ---------------------------------------------------------------------------


def fake_summary(ranks: int, t: float, points: int = 1000, mode: str = "weak") -> dict:
    per_rank = points if mode == "weak" else points // ranks
    costs = {
        "compute": [
            {"points_per_rank": per_rank, "seconds_per_step": 0.8 * t},
            {"points_per_rank": per_rank // 2, "seconds_per_step": 0.5 * t},
        ],
        "allreduce": [{"bytes": b, "seconds": 1e-4 + b * 1e-9} for b in (4000, 16000)] if ranks > 1 else [],
        "gradient_bytes": 4000,
    }
    return {
        "status": "finished",
        "seconds_per_step": t,
        "final_loss": 1e-3,
        "l2_relative_error": 1e-2 / ranks,
        "test_loss": 2e-3,
        "allreduce_share": 0.2 if ranks > 1 else 0.0,
        "wall_seconds": 9.0,
        "points": {"per_rank": {"pde": per_rank}, "global": {"pde": per_rank * ranks}},
        "step_costs": costs,
    }


@pytest.mark.slow
def test_a_failed_size_is_reported_and_the_sweep_goes_on(tmp_path, monkeypatch):
    def fake_run(study_dir, name, spec, overrides, ranks, scaling, launch, probe):
        if ranks == 2:
            return Outcome(name, "failed", "RuntimeError: rank 1 lost", {"status": "failed"}, 3.0)
        return Outcome(name, "finished", None, fake_summary(ranks, 0.010 + 0.001 * ranks), 5.0)

    monkeypatch.setattr(sweep_module, "run_training", fake_run)
    monkeypatch.setattr(Launch, "capacity", lambda self: 3)
    code = sweep_module.run_sweep(
        str(PROBLEMS / "poisson1d.yaml"),
        "weak",
        [1, 2, 3, 4],
        None,
        2,
        Launch(),
        False,
        [],
        str(tmp_path / "study"),
        Console(width=150, record=True),
    )
    assert code == 0
    study = json.loads((tmp_path / "study" / "scaling.json").read_text())
    rows = {r["ranks"]: r for r in study["rows"]}
    assert rows[2]["status"] == "failed" and "rank 1 lost" in rows[2]["reason"]
    assert rows[3]["status"] == "finished" and rows[3]["runs"] == ["ranks-3-rep1", "ranks-3-rep2"]
    assert rows[4]["status"] == "skipped" and "--oversubscribe" in rows[4]["reason"]
    assert rows[3]["efficiency"] == pytest.approx(0.011 / 0.013)
    assert study["model"] is not None and study["predicted"]
    assert all(p["ranks"] not in (1, 2, 3, 4) for p in study["predicted"])


@pytest.mark.slow
def test_an_oversubscribed_size_runs_when_asked_and_is_marked(tmp_path, monkeypatch):
    monkeypatch.setattr(
        sweep_module,
        "run_training",
        lambda d, name, s, o, ranks, sc, la, probe: Outcome(
            name, "finished", None, fake_summary(ranks, 0.01 * ranks, mode="strong"), 1.0
        ),
    )
    monkeypatch.setattr(Launch, "capacity", lambda self: 2)
    console = Console(width=150, record=True)
    sweep_module.run_sweep(
        str(PROBLEMS / "poisson1d.yaml"), "strong", [1, 2, 4], None, 1, Launch(), True, [], str(tmp_path / "s"), console
    )
    study = json.loads((tmp_path / "s" / "scaling.json").read_text())
    assert [r["oversubscribed"] for r in study["rows"]] == [False, False, True]
    assert "oversubscribed" in console.export_text()
    # the model is fitted only from sizes that had a core each
    assert study["model"]["problem_points"] == 1000


# ---------------------------------------------------------------------------
# real sweeps
# ---------------------------------------------------------------------------

TINY = ["--set", "network.hidden=[8,8]", "--set", "sampling.points.poisson=128"]


def pinnrun(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pinnrun.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def strong_sweep(tmp_path_factory):
    pytest.importorskip("horovod.tensorflow")
    out = tmp_path_factory.mktemp("sweep") / "study"
    too_many = 2 * len(os.sched_getaffinity(0))
    proc = pinnrun(
        "scale",
        PROBLEMS / "poisson1d.yaml",
        "--mode",
        "strong",
        "--sweep",
        f"1,2,{too_many}",
        "--steps",
        60,
        "--out",
        out,
        *TINY,
    )
    return proc, out, too_many


@pytest.mark.slow
def test_a_real_strong_sweep_writes_table_json_csv_and_plot(strong_sweep):
    proc, out, too_many = strong_sweep
    assert proc.returncode == 0, proc.stdout + proc.stderr
    study = json.loads((out / "scaling.json").read_text())
    one, two, many = study["rows"]
    assert (one["status"], two["status"], many["status"]) == ("finished", "finished", "skipped")
    assert (
        one["global_points"] == two["global_points"] == 130 and two["points_per_rank"] == 66
    )  # rank 0 holds both boundary points
    for r in (one, two):
        summary = json.loads((out / r["runs"][0] / "summary.json").read_text())
        assert r["seconds_per_step"] == summary["seconds_per_step"] > 0
        assert r["l2_relative_error"] == summary["l2_relative_error"]
        assert r["points_per_second"] == pytest.approx(130 / r["seconds_per_step"])
    assert one["speedup"] == 1 and two["efficiency"] == pytest.approx(
        one["seconds_per_step"] / (2 * two["seconds_per_step"])
    )
    # the share of a step not spent computing (never below 0): 1 - compute alone / whole step
    compute_alone = two["step_costs"][0]["compute"][0]["seconds_per_step"]
    assert one["allreduce_share"] == 0.0
    assert two["allreduce_share"] == pytest.approx(max(0.0, 1 - compute_alone / two["seconds_per_step"]), rel=1e-12)
    # the probe: compute alone at two point counts, the all-reduce alone at four message sizes
    costs = two["step_costs"][0]
    assert [c["points_per_rank"] for c in costs["compute"]] == [66, 34]  # half of each term, rounded up
    assert [a["bytes"] for a in costs["allreduce"]] == [m * costs["gradient_bytes"] for m in (1, 4, 16, 64)]
    assert all(a["seconds"] > 0 for a in costs["allreduce"]) and one["step_costs"][0]["allreduce"] == []
    # 1-8-8-1 network: 16 + 72 + 9 parameters, and 3 loss terms ride in the same all-reduce, float64
    assert costs["gradient_bytes"] == study["model"]["gradient_bytes"] == (97 + 3) * 8
    m = study["model"]  # a + c n + 2 (p - 1) alpha + 2 (p - 1) / p B beta, at p = 2 and n = 66
    by_hand = (
        m["compute_fixed_seconds"]
        + 66 * m["compute_seconds_per_point"]
        + 2 * m["latency_seconds"]
        + 800 * m["seconds_per_byte"]
    )
    assert two["model_seconds_per_step"] == pytest.approx(by_hand, rel=1e-12) and by_hand > 0
    # predicted: 16 ... 1024 ranks unless measured; strong only while each rank keeps a point of the 130
    assert [(p["mode"], p["ranks"]) for p in study["predicted"]] == [
        (mode, k)
        for mode in ("weak", "strong")
        for k in (16, 32, 64, 128, 256, 512, 1024)
        if k != too_many and (mode == "weak" or k <= 130)
    ]
    # the table: measured rows, the skipped size and why, the predicted rows apart
    assert "strong scaling of poisson1d (measured)" in proc.stdout
    assert f"{too_many} ranks skipped" in proc.stdout and "--oversubscribe" in proc.stdout
    assert "PREDICTED by the ring all-reduce cost model fitted above" in " ".join(proc.stdout.split())
    assert "cost model against the measured sizes: 1 rank " in " ".join(proc.stdout.split())
    with open(out / "scaling.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["source"] for r in rows[:3]] == ["measured"] * 3 and rows[3]["source"] == "predicted"
    assert float(rows[1]["seconds_per_step"]) == two["seconds_per_step"]
    assert_png(out / "scaling.png")


@pytest.mark.slow
def test_each_size_is_an_ordinary_run_folder(strong_sweep):
    _, out, _ = strong_sweep
    run = json.loads((out / "ranks-2" / "run.json").read_text())
    assert run["ranks"] == 2 and run["argv"][-1] == "--probe"
    assert json.loads((out / "ranks-1" / "run.json").read_text())["launcher"] == "direct"


@pytest.mark.slow
def test_a_real_h_analysis_reports_error_spread_and_gap(tmp_path):
    out = tmp_path / "h"
    proc = pinnrun(
        "scale",
        PROBLEMS / "poisson1d.yaml",
        "--mode",
        "points",
        "--points",
        "32,128",
        "--seeds",
        2,
        "--steps",
        40,
        "--out",
        out,
        "--set",
        "network.hidden=[8,8]",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    study = json.loads((out / "scaling.json").read_text())
    assert [r["global_points"] for r in study["rows"]] == [32, 128]
    for row in study["rows"]:
        assert row["finished"] == 2
        runs = [json.loads((out / name / "summary.json").read_text()) for name in row["run_folders"]]
        assert sorted(s["points"]["global"]["poisson"] for s in runs) == [row["global_points"]] * 2
        l2 = [s["l2_relative_error"] for s in runs]
        assert row["l2_median"] == pytest.approx(np.median(l2))
        assert row["l2_min"] == min(l2) and row["l2_max"] == max(l2)
        assert row["gap_median"] == pytest.approx(np.median([s["test_loss"] - s["train_loss"] for s in runs]))
    seeds = {
        json.loads((out / n / "spec.yaml").read_text().split("seed:")[1].split()[0])
        for n in study["rows"][0]["run_folders"]
    }
    assert seeds == {0, 1}
    assert "h-analysis of poisson1d" in proc.stdout
    assert_png(out / "scaling.png")


@pytest.mark.slow
def test_bad_sweep_and_missing_points_are_one_line_errors():
    proc = pinnrun("scale", PROBLEMS / "poisson1d.yaml", "--sweep", "1,two")
    assert proc.returncode == 2 and "--sweep" in proc.stderr and "Traceback" not in proc.stderr
    proc = pinnrun("scale", PROBLEMS / "poisson1d.yaml", "--mode", "points")
    assert (
        proc.returncode == 2
        and proc.stderr.strip() == "error: --mode points needs --points, e.g. --points 128,256,512,1024"
    )


def assert_png(path: Path) -> None:
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 500
    assert image.std() > 0.05  # not a blank canvas
