#!/usr/bin/env python
"""Our h-analysis of the paper's Poisson problem beside the paper's published curve.

    .venv/bin/python scripts/plot_hanalysis_paper.py --out docs/img/h-analysis-paper.png \\
        "pseudo-random=runs/scale-poisson1d_paper-points-A" "sobol=runs/scale-poisson1d_paper-points-B"

Each argument is LABEL=STUDY_FOLDER of `pinnrun scale problems/poisson1d_paper.yaml --mode points`
(its scaling.json); a label given twice joins the two studies' point counts. The paper's numbers are those of Escapil-Inchauspé & Ruz (Sci. Rep. 2023),
from its own code: mean L2 error over 8 seeds, 4 x 50 tanh, Adam 1e-4, 20,000 epochs,
pseudo-random points. Prints a markdown table (mean, min-max per point count) and writes the
plot: mean error against points, every seed as a dot, the paper as a line and its plateau as a band.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# (points, mean L2) as the paper reports them; from 1,024 to 65,536 points a plateau of 2-6e-4.
PAPER = [(200, 0.9), (256, 9.7e-2), (300, 1.8e-3), (400, 8.8e-4)]
PAPER_PLATEAU = ((1024, 65536), (2e-4, 6e-4))


def read(folder: Path) -> list[tuple[int, list[float]]]:
    study = json.loads((folder / "scaling.json").read_text())
    return [(row["global_points"], row.get("l2_values") or []) for row in study["rows"]]


def table(studies: dict[str, list]) -> str:
    lines = [
        "| points | paper (mean of 8) | " + " | ".join(f"{k}: mean (min–max), seeds" for k in studies) + " |",
        "|---|---|" + "---|" * len(studies),
    ]
    paper = dict(PAPER)
    counts = sorted({n for rows in studies.values() for n, _ in rows})
    for n in counts:
        cells = []
        for rows in studies.values():
            values = dict(rows).get(n) or []
            cells.append(
                f"{np.mean(values):.2e} ({min(values):.1e}–{max(values):.1e}), {len(values)}" if values else "–"
            )
        ref = f"{paper[n]:.1e}" if n in paper else ("2–6e-4" if PAPER_PLATEAU[0][0] <= n else "–")
        lines.append(f"| {n:,} | {ref} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(studies: dict[str, list], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    (lo, hi), (elo, ehi) = PAPER_PLATEAU
    ax.fill_between([lo, hi], elo, ehi, color="0.85", label="paper: plateau 2–6e-4")
    ax.plot(*zip(*PAPER), "k--o", label="paper (mean of 8 seeds)")
    for i, (label, rows) in enumerate(studies.items()):
        color = f"C{i}"
        done = [(n, v) for n, v in rows if v]
        ax.plot([n for n, _ in done], [np.mean(v) for _, v in done], "-s", color=color, label=f"pinnrun, {label}")
        for n, values in done:
            ax.scatter([n] * len(values), values, s=10, color=color, alpha=0.5)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="collocation points N on [-1, 7]",
        ylabel="L2 relative error",
        title="h-analysis, Poisson 1D (paper's setting)",
    )
    ax.axvline(35 * 8, color="0.6", lw=0.8, ls=":")
    ax.text(35 * 8 * 1.05, ax.get_ylim()[1] * 0.5, "35 points per unit", fontsize=8, color="0.4", va="top")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("studies", nargs="+", help="LABEL=STUDY_FOLDER")
    parser.add_argument("--out", required=True, help="the .png to write")
    args = parser.parse_args(argv)
    studies = {}
    for item in args.studies:
        label, _, folder = item.partition("=")
        studies[label] = sorted(studies.get(label, []) + read(Path(folder)))  # a label may repeat: more counts
    print(table(studies))
    plot(studies, Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
