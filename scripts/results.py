"""Train the shipped problems on 1 and 2 ranks and write docs/results.md.

    .venv/bin/python scripts/results.py [problem ...]     # default: all problems/*.yaml

Every number in docs/results.md comes from the run folders this makes
(runs/results/<problem>-<ranks>r/), read back from their summary.json.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "results"


def run(problem: str, ranks: int) -> dict:
    out = OUT / f"{problem}-{ranks}r-{time.strftime('%Y%m%d-%H%M%S')}"
    cmd = [str(ROOT / ".venv/bin/pinnrun"), "train", f"problems/{problem}.yaml", "--np", str(ranks), "--out", str(out)]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    summary = json.loads((out / "summary.json").read_text())
    return {"problem": problem, "ranks": ranks, "command": "pinnrun " + " ".join(cmd[2:5]) + f" --np {ranks}",
            "summary": summary, "folder": str(out.relative_to(ROOT))}


def row(r: dict) -> str:
    s = r["summary"]
    phases = ", ".join(f"{p['name']} {p['steps']}" for p in s["phases"])
    pts = "+".join(str(v) for v in s["points"]["global"].values())
    return (f"| {r['problem']} | {r['ranks']} | {s['scaling']} | {pts} | {phases} | "
            f"{s['l2_relative_error']:.2e} | {s['final_loss']:.2e} | {s['wall_seconds']:.0f} s | "
            f"{1 / s['seconds_per_step']:.1f} |")


def main(problems: list[str]) -> None:
    rows = [run(p, k) for p in problems for k in (1, 2)]
    lines = [
        "# Accuracy and wall time of full runs",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on this project's machine: {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, CPU only, TensorFlow + Horovod (Gloo), "
        "1 TF thread per rank. Made by `.venv/bin/python scripts/results.py`, which runs each "
        "problem's spec unchanged on 1 and 2 ranks (weak scaling: 2 ranks train on twice the points).",
        "",
        "| problem | ranks | scaling | global points (per term) | steps | L2 rel. error | final loss | wall | Adam steps/s |",
        "|---|---|---|---|---|---|---|---|---|",
        *[row(r) for r in rows],
        "",
        "Wall time is the whole run: start-up, graph compilation, training, and writing results. "
        "The L2 relative error is measured against each spec's reference on its reference grid "
        "(Burgers: the Cole-Hopf solution computed by `pinnrun/problem/cole_hopf.py`).",
        "",
        "Commands:",
        "",
        *[f"- `{r['command']}` → `{r['folder']}`" for r in rows],
        "",
    ]
    (ROOT / "docs" / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(p.stem for p in (ROOT / "problems").glob("*.yaml")))
