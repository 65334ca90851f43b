"""The benchmark's report: one definition of every ratio (the median of per-repeat ratios, shown
with those ratios), docs/performance.md's generated part equal to what benchmarks/results.json
renders to, and rewriting only that part (the hand-written analysis around it must survive)."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"
DOC = ROOT / "docs" / "performance.md"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed_results() -> dict:
    return json.loads(RESULTS.read_text())


def row(table: str, label: str) -> str:
    """The result cell of the row called `label`."""
    found = [line for line in table.splitlines() if line.startswith(f"| {label} |")]
    assert len(found) == 1, f"{len(found)} rows called {label!r} in:\n{table}"
    return found[0].split(" | ")[1]


def three_repeats() -> dict:
    """The committed results with hand-picked runs in which the median of the per-repeat ratios
    differs from the ratio of the medians, so a report that used the latter shows it."""
    r = copy.deepcopy(committed_results())
    r["repeats"] = 3
    r["scaling"]["weak"].update(
        two_rank_runs=[100.0, 60.0, 80.0], ceiling_runs=[100.0, 50.0, 200.0], slower_process_runs=[80.0, 40.0, 160.0]
    )
    r["strong"].update(
        one_rank_runs=[0.03, 0.02, 0.04], two_rank_runs=[0.02, 0.01, 0.04], one_rank_one_core_runs=[0.06, 0.05, 0.04]
    )
    r["peer"].update(pinnrun_runs=[300.0, 400.0, 500.0], deepxde_runs=[100.0, 400.0, 125.0])
    return r


def test_every_ratio_is_the_median_of_the_per_repeat_ratios() -> None:
    table = load_bench().render(three_repeats())
    # weak: 100/100, 60/50, 80/200 -> 1.00, 1.20, 0.40, median 1.00 (the medians' ratio would be 80/100)
    assert row(table, "weak: 2-rank job / two independent processes") == "1.00 (per repeat: 1.00, 1.20, 0.40)"
    # 100/80, 60/40, 80/160 -> 1.25, 1.50, 0.50
    assert row(table, "weak: 2-rank job / the slower of the two processes") == "1.25 (per repeat: 1.25, 1.50, 0.50)"
    # seconds per step, 1 rank over 2 ranks: 1.5, 2.0, 1.0 (the medians' ratio would be 0.03/0.02 = 1.5)
    assert row(table, "strong: speedup 2 ranks vs 1 rank on all cores") == "1.50 (per repeat: 1.50, 2.00, 1.00)"
    assert row(table, "strong: speedup 2 ranks vs 1 rank on one core") == "3.00 (per repeat: 3.00, 5.00, 1.00)"
    assert row(table, "1 rank on all cores vs on one core (speedup)") == "2.00 (per repeat: 2.00, 2.50, 1.00)"
    # 3, 1, 4 -> median 3 (the medians' ratio would be 400/125 = 3.2)
    assert row(table, "vs DeepXDE: pinnrun / DeepXDE steps/s") == "3.00 (per repeat: 3.00, 1.00, 4.00)"
    # the rates beside them are the medians of their own runs
    assert (
        row(table, "weak, steps/s per rank: 2-rank job; two independent processes (their mean); the slower process")
        == "80; 100; 80"
    )
    assert (
        row(table, "strong, 8,192 points, ms/step: 1 rank on all cores; 1 rank on one core; 2 ranks")
        == "30.0; 50.0; 20.0"
    )


def test_committed_table_matches_an_independent_computation() -> None:
    results = committed_results()
    table = load_bench().render(results)
    weak, strong, peer, full = results["scaling"]["weak"], results["strong"], results["peer"], results["full"]

    def expected(numerators, denominators) -> str:
        per_repeat = np.asarray(numerators) / np.asarray(denominators)
        return f"{np.median(per_repeat):.2f} (per repeat: {', '.join(f'{x:.2f}' for x in per_repeat)})"

    assert row(table, "weak: 2-rank job / two independent processes") == expected(
        weak["two_rank_runs"], weak["ceiling_runs"]
    )
    assert row(table, "strong: speedup 2 ranks vs 1 rank on all cores") == expected(
        strong["one_rank_runs"], strong["two_rank_runs"]
    )
    assert row(table, "vs DeepXDE: pinnrun / DeepXDE steps/s") == expected(peer["pinnrun_runs"], peer["deepxde_runs"])
    seconds, deepxde = full["pinnrun"]["seconds_to_target"], full["deepxde"]["wall_seconds"]
    assert row(table, "time to DeepXDE's final error, one run each: pinnrun / DeepXDE").startswith(
        f"{seconds:.0f} s / {deepxde:.0f} s = {seconds / deepxde:.3f} "
    )
    startup = np.median(results["scaling"]["startup"]["two_rank_runs"])
    assert row(table, "start-up to first step, 2 ranks") == f"{startup:.1f} s"


def test_results_keep_runs_not_ratios() -> None:
    """A ratio stored beside the runs could disagree with the report's; only the report derives them."""
    text = RESULTS.read_text()
    assert not re.search(r'"(ratio|speedup)[a-z_]*"', text), "benchmarks/results.json stores a derived ratio"


def test_performance_doc_shows_what_the_committed_results_render_to() -> None:
    bench = load_bench()
    generated = DOC.read_text().partition(bench.BEGIN)[2].partition(bench.END)[0]
    assert generated.strip() == bench.render(committed_results()), (
        "docs/performance.md is stale: run `.venv/bin/python scripts/bench.py --render`"
    )


def test_render_mode_measures_nothing_and_rewrites_only_the_generated_part(tmp_path: Path) -> None:
    bench = load_bench()
    results, doc = tmp_path / "results.json", tmp_path / "performance.md"
    results.write_text(json.dumps(three_repeats()))
    doc.write_text(f"# Title\n\nhand-written before\n\n{bench.BEGIN}\nold table\n{bench.END}\n\nhand-written after\n")
    assert bench.main(["--render", "--out", str(results), "--doc", str(doc), "--work", str(tmp_path / "work")]) == 0
    text = doc.read_text()
    assert text.startswith("# Title\n\nhand-written before\n\n")
    assert text.endswith(f"{bench.END}\n\nhand-written after\n")
    assert "old table" not in text and bench.render(three_repeats()) in text
    assert not (tmp_path / "work").exists(), "--render started runs"


def test_paired_ratio_refuses_unpaired_runs() -> None:
    with pytest.raises(ValueError, match="3 numerators for 2 denominators"):
        load_bench().paired_ratio([1.0, 2.0, 3.0], [1.0, 2.0])
