"""Train the shipped problems on 1 and 2 ranks and write docs/results.md.

    .venv/bin/python scripts/results.py [problem ...]     # default: all problems/*.yaml
    .venv/bin/python scripts/results.py --render          # rewrite the doc from the newest runs

Every number in docs/results.md comes from the run folders this makes
(runs/results/<problem>-<ranks>r/), read back from their summary.json, run.json and
env.json; the rows are also written to benchmarks/full_runs.json, which is committed
(run folders are not).
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
RECORD = ROOT / "benchmarks" / "full_runs.json"


# Rows that train a shipped spec with overrides: row name -> (spec, --set overrides).
VARIANTS = {
    "navier_stokes_inverse_noisy": ("navier_stokes_inverse",
                                    ["conditions.measured.file=data/navier_stokes_obs_noisy.csv"]),
}


def command(problem: str, ranks: int) -> list[str]:
    spec, sets = VARIANTS.get(problem, (problem, []))
    return ["pinnrun", "train", f"problems/{spec}.yaml", "--np", str(ranks),
            *[arg for s in sets for arg in ("--set", s)]]


def run(problem: str, ranks: int) -> dict:
    out = OUT / f"{problem}-{ranks}r-{time.strftime('%Y%m%d-%H%M%S')}"
    cmd = [str(ROOT / ".venv/bin/pinnrun"), *command(problem, ranks)[1:], "--out", str(out)]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    return collect(out)


def collect(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    run_info = json.loads((out / "run.json").read_text())
    env = json.loads((out / "env.json").read_text())
    problem = out.name.split(f"-{summary['ranks']}r-")[0]
    rank0 = env["ranks"][0]
    return {"problem": problem, "ranks": summary["ranks"],
            "command": " ".join(command(problem, summary["ranks"])),
            "launch": {"launcher": run_info["launcher"], "controller": run_info["controller"],
                       "created": run_info["created"], "tf_threads": [rank0["intra_op"], rank0["inter_op"]],
                       "versions": {k: env[k] for k in ("tensorflow", "horovod", "python")}},
            "summary": summary, "folder": str(out.relative_to(ROOT))}


def newest_runs() -> list[dict]:
    """The newest row of every problem and rank count: run folders here win, and rows of
    benchmarks/full_runs.json whose folders are gone (another machine, a fresh clone) are kept."""
    rows = {(r["problem"], r["ranks"]): r for r in json.loads(RECORD.read_text())} if RECORD.exists() else {}
    newest: dict[str, Path] = {}
    for folder in sorted(OUT.glob("*-*r-*")):  # names end in a sortable time stamp
        if (folder / "summary.json").exists():
            newest[folder.name.rsplit("-", 2)[0]] = folder
    for folder in newest.values():
        r = collect(folder)
        rows[(r["problem"], r["ranks"])] = r
    return [rows[k] for k in sorted(rows)]


def row(r: dict) -> str:
    s = r["summary"]
    phases = ", ".join(f"{p['name']} {p['steps']}" + (f" ({p['stop_reason']})" if p["stop_reason"] != "steps done"
                                                     else "") for p in s["phases"])
    pts = "+".join(str(v) for v in s["points"]["global"].values())
    return (f"| {r['problem']} | {r['ranks']} | {s['scaling']} | {pts} | {phases} | "
            f"{error(s)} | {parameters(s)} | {_num(s['final_loss'], '.2e')} | "
            f"{s['wall_seconds']:.0f} s | {1 / s['seconds_per_step']:.1f} | {r['launch']['created'][:10]} |")


def error(summary: dict) -> str:
    """The combined L2 error, then each compared field's when there are several: `2.9e-02 (u 2.1e-02, ...)`."""
    each = {k: v for k, v in (summary.get("l2_relative_errors") or {}).items() if v is not None}
    text = _num(summary["l2_relative_error"], ".2e")
    return text + (" (" + ", ".join(f"{k} {v:.2e}" for k, v in each.items()) + ")" if len(each) > 1 else "")


def parameters(summary: dict) -> str:
    """Identified unknowns: `D = 0.100187 (true 0.1, relative error 0.0019)`; '–' for a forward problem."""
    found = summary.get("parameters") or {}
    return "; ".join(f"{name} = {p['value']:.6g}" + (f" (true {p['true_value']:g}, relative error "
                                                     f"{p['relative_error']:.2g})" if p.get("true_value") is not None
                                                     else "")
                     for name, p in found.items()) or "–"


def _num(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)  # no reference, or a diverged (strict-JSON null) loss


def launch_paths(rows: list[dict]) -> str:
    """How the ranks ran, as the run folders say (not as this script assumes)."""
    seen = []
    for r in rows:
        launch = r["launch"]
        how = ("one process, no launcher" if launch["launcher"] == "direct"
               else f"`{launch['launcher']}` with Horovod's {launch['controller'].upper()} controller")
        intra, inter = launch["tf_threads"]
        text = f"{r['ranks']} rank(s): {how}, {intra} intra-op / {inter} inter-op TensorFlow thread(s) per rank"
        if text not in seen:
            seen.append(text)
    return "; ".join(seen)


def main(problems: list[str]) -> None:
    if problems != ["--render"]:
        for p in problems:
            for k in (1, 2):
                run(p, k)
    rows = newest_runs()  # the newest run of every problem and rank count, these and earlier ones
    RECORD.write_text(json.dumps(rows, indent=1) + "\n")
    versions = rows[0]["launch"]["versions"]
    dates = sorted({r["launch"]["created"][:10] for r in rows})
    lines = [
        "# Accuracy and wall time of full runs",
        "",
        f"Measured {' to '.join(dict.fromkeys([dates[0], dates[-1]]))} on this project's machine: "
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, CPU only, "
        f"TensorFlow {versions['tensorflow']}, Horovod {versions['horovod']}. {launch_paths(rows)}. "
        "Made by `.venv/bin/python scripts/results.py`, which runs each problem's spec unchanged on 1 and "
        "2 ranks (weak scaling: 2 ranks train on twice the points); every number below is in "
        "`benchmarks/full_runs.json`, with the run folder it came from.",
        "",
        "| problem | ranks | scaling | global points (per term) | steps | L2 rel. error | identified parameters "
        "| final loss | wall | Adam steps/s | measured |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *[row(r) for r in rows],
        "",
        "Wall time is the whole run: start-up, graph compilation, training, and writing results. "
        "The L2 relative error is measured against each spec's reference on its reference grid "
        "(Burgers: the Cole-Hopf solution computed by `pinnrun/problem/cole_hopf.py`); on a region that "
        "is not a box (poisson_lshape) only grid points inside it count. Identified parameters are the "
        "unknowns of an inverse problem at the end of training, against the value that made the data "
        "(inverse_diffusion: D = 0.1, 50 measurements with 1% noise, `problems/data/diffusion_obs.csv`). "
        "wave1d is the exception among these: a plain PINN does not resolve its 0.5 sin(4 pi x) cos(8 pi t) "
        "mode (the test case of Wang, Yu & Perdikaris, J. Comput. Phys. 2022, for adaptive loss weights); "
        "its spec's comment lists the settings tried and their errors. "
        "An L-BFGS phase that stopped before its steps says why; 'line search found no decrease' "
        "means float32 precision was reached.",
        "",
        "Reading the table: with weak scaling, 2 ranks train on twice the points of 1 rank, so their "
        "wall times are not a speed-up measurement (`pinnrun scale` is for that). With strong scaling "
        "(Burgers), 2 ranks split the same 8192 points. Observation data is never multiplied: 2 ranks "
        "split the 50 measurements. Adam steps/s is the inverse of the median time "
        "of an Adam step; every rank takes every step, so it is the job's rate.",
        "",
        "Commands:",
        "",
        *[f"- `{r['command']}` → `{r['folder']}`" for r in rows],
        "",
    ]
    (ROOT / "docs" / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:] or sorted([p.stem for p in (ROOT / "problems").glob("*.yaml")] + list(VARIANTS)))
