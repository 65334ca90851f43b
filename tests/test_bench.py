"""The benchmark's report: its table from a results file, and rewriting only the generated
part of docs/performance.md (the hand-written analysis around it must survive a bench run)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_render_reports_every_measure_against_its_target() -> None:
    bench = load_bench()
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    table = bench.render(results)
    weak = results["scaling"]["weak"]
    assert f"| weak: 2-rank / two independent processes | {weak['ratio']:.2f} " in table
    assert f"| weak: 2-rank / the slower of the two processes | {weak['ratio_to_slower_process']:.2f} " in table
    assert f"| strong: speedup 2 ranks vs 1 rank on all cores, 8,192 points | {results['strong']['speedup']:.2f} |" \
        in table
    assert "| start-up to first step, 2 ranks |" in table and "<= 10 s" in table
    assert f"= {results['full']['time_ratio']:.3f}" in table


def test_write_doc_replaces_only_the_generated_part(tmp_path: Path) -> None:
    bench = load_bench()
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Title\n\nhand-written before\n\n{bench.BEGIN}\nold table\n{bench.END}\n\nhand-written after\n")
    bench.write_doc(doc, results)
    text = doc.read_text()
    assert text.startswith("# Title\n\nhand-written before\n\n")
    assert text.endswith(f"{bench.END}\n\nhand-written after\n")
    assert "old table" not in text and bench.render(results) in text
