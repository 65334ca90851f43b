"""scripts/plot_hanalysis_paper.py: our h-analysis studies beside the paper's published curve."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import plot_hanalysis_paper as paper  # noqa: E402


def study(folder: Path, rows: dict[int, list[float]]) -> Path:
    folder.mkdir()
    (folder / "scaling.json").write_text(
        json.dumps({"rows": [{"global_points": n, "l2_values": v} for n, v in rows.items()]})
    )
    return folder


def test_table_puts_means_and_ranges_beside_the_papers_values(tmp_path):
    a = study(tmp_path / "a", {256: [0.1, 0.3], 1024: [2e-4, 4e-4], 300: []})
    b = study(tmp_path / "b", {256: [0.05]})
    table = paper.table({"pseudo-random": paper.read(a), "sobol": paper.read(b)}).splitlines()
    assert table[0].startswith("| points | paper (mean of 8) | pseudo-random: mean")
    rows = {line.split(" | ")[0].strip("| "): line for line in table[2:]}
    assert rows["256"] == "| 256 | 9.7e-02 | 2.00e-01 (1.0e-01–3.0e-01), 2 | 5.00e-02 (5.0e-02–5.0e-02), 1 |"
    assert rows["300"] == "| 300 | 1.8e-03 | – | – |"  # no run finished there
    assert rows["1,024"].startswith("| 1,024 | 2–6e-4 | 3.00e-04 ")  # the paper's plateau


@pytest.mark.slow
def test_plot_is_written(tmp_path):
    a = study(tmp_path / "a", {200: list(np.full(2, 0.5)), 400: [1e-3, 2e-3]})
    out = tmp_path / "img" / "h.png"
    assert paper.main([f"ours={a}", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
