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
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "results"
RECORD = ROOT / "benchmarks" / "full_runs.json"


# Rows that train a shipped spec with overrides: row name -> (spec, --set overrides).
VARIANTS = {
    "navier_stokes_inverse_noisy": (
        "navier_stokes_inverse",
        ["conditions.measured.file=data/navier_stokes_obs_noisy.csv"],
    ),
    # issue 18: adaptive points and loss weights on the specs that missed their targets
    "burgers_soft_rad": ("burgers_soft", ["sampling.adapt.method=rad", "sampling.adapt.every=500"]),
    "burgers_soft_rar": (
        "burgers_soft",
        ["sampling.adapt.method=rar", "sampling.adapt.every=500", "sampling.adapt.add=512"],
    ),
    "burgers_soft_grad_norm": (
        "burgers_soft",
        ["training.loss_balancing.method=grad_norm", "training.loss_balancing.every=500"],
    ),
    "allen_cahn_rad": (
        "allen_cahn",
        ["sampling.adapt.method=rad", "sampling.adapt.every=1000", "sampling.adapt.lbfgs=true"],
    ),
    "allen_cahn_causal": (
        "allen_cahn",
        ["training.causal.chunks=32", "training.adam.steps=4000", "training.lbfgs.steps=10000"],
    ),
    # a fresh block of points every 100 Adam steps (Wu et al. 2023's Random-R), longer Adam
    "burgers_soft_resample": (
        "burgers_soft",
        [
            "sampling.adapt.method=resample",
            "sampling.adapt.every=100",
            "training.adam.steps=6000",
            "training.lbfgs.steps=6000",
            "training.log_every=500",
        ],
    ),
    # causal weights with Wang et al.'s final epsilon (100) instead of 1
    "allen_cahn_causal100": (
        "allen_cahn",
        [
            "training.causal.chunks=32",
            "training.causal.epsilon=100",
            "training.adam.steps=5000",
            "training.lbfgs.steps=9000",
        ],
    ),
    # the same causal weights, fewer Adam steps and more L-BFGS ones (the error falls most in L-BFGS)
    "allen_cahn_causal100_lbfgs": (
        "allen_cahn",
        [
            "training.causal.chunks=32",
            "training.causal.epsilon=100",
            "training.adam.steps=3000",
            "training.lbfgs.steps=11000",
        ],
    ),
    # the same, and the residual weighted by 16 near x = 0 (the reaction's unstable equilibrium)
    "allen_cahn_causal100_x0": (
        "allen_cahn",
        [
            "pde.allen_cahn=(u_t - d*u_xx - 5*(u - u**3))*(1 + 3*exp(-(x/0.1)**2))",
            "training.causal.chunks=32",
            "training.causal.epsilon=100",
            "training.adam.steps=3000",
            "training.lbfgs.steps=11000",
        ],
    ),
    # Wu et al. 2023's Allen-Cahn setting: 3 x 64, 2,000 points resampled every 100 Adam steps
    "allen_cahn_resample64": (
        "allen_cahn",
        [
            "network.hidden=[64,64,64]",
            "sampling.points.allen_cahn=2000",
            "sampling.adapt.method=resample",
            "sampling.adapt.every=100",
            "training.adam.steps=10000",
            "training.lbfgs.steps=6000",
            "training.log_every=500",
        ],
    ),
}


def _param(name: str):
    return lambda s: (s.get("parameters") or {}).get(name, {}).get("relative_error")


def _field(name: str):
    return lambda s: (s.get("l2_relative_errors") or {}).get(name)


# The targets on this 2-core machine, each run within 10 minutes (problem, quantity, how to
# read it from summary.json, target); the published figure for comparison, where there is one.
TARGETS = [
    (
        "nls",
        "L2 error of abs(h)",
        _field("h"),
        5e-3,
        "Raissi et al. 2019: 1.97e-3 (5 x 100 net, 20,000 points, L-BFGS to convergence)",
    ),
    (
        "navier_stokes_inverse",
        "lambda1 relative error",
        _param("lambda1"),
        1e-2,
        "Raissi et al. 2019, cylinder wake, clean data: 0.08%",
    ),
    ("navier_stokes_inverse", "lambda2 relative error", _param("lambda2"), 5e-2, "the same: 4.7%"),
    ("navier_stokes_inverse_noisy", "lambda1 relative error", _param("lambda1"), None, ""),
    ("navier_stokes_inverse_noisy", "lambda2 relative error", _param("lambda2"), None, ""),
    (
        "allen_cahn",
        "L2 error",
        lambda s: s["l2_relative_error"],
        1e-2,
        "DeepXDE's example, same setting: 1.5e-2 (lululxvi/deepxde pull request 526)",
    ),
    ("kovasznay", "L2 error, worst of u, v, p", lambda s: max(s["l2_relative_errors"].values()), 1e-2, ""),
    ("heat_disk", "L2 error", lambda s: s["l2_relative_error"], 1e-2, ""),
    ("poisson2d_mixed", "L2 error, worst of u, v", lambda s: max(s["l2_relative_errors"].values()), 1e-2, ""),
    ("diffusion_reaction", "L2 error", lambda s: s["l2_relative_error"], 1e-2, ""),
    ("diffusion_reaction", "k relative error", _param("k"), None, ""),
    # issue 18's: soft-constraint Burgers to 1e-3, Allen-Cahn in DeepXDE's setting to 5e-3
    *[
        (name, "L2 error", lambda s: s["l2_relative_error"], 1e-3, "")
        for name in (
            "burgers_soft",
            "burgers_soft_rad",
            "burgers_soft_rar",
            "burgers_soft_grad_norm",
            "burgers_soft_resample",
        )
    ],
    *[
        (
            name,
            "L2 error (issue 18's target)",
            lambda s: s["l2_relative_error"],
            5e-3,
            "DeepXDE's example, same setting: 1.5e-2",
        )
        for name in (
            "allen_cahn",
            "allen_cahn_rad",
            "allen_cahn_causal",
            "allen_cahn_causal100",
            "allen_cahn_causal100_lbfgs",
            "allen_cahn_causal100_x0",
            "allen_cahn_resample64",
        )
    ],
]
TIME_LIMIT = 600.0
# What the numbers mean, and what limits a missed target (measured, see each spec's comment).
NOTES = [
    "**nls**: the error that counts is on |h| (the derived quantity h), 2.5e-3 on 1 rank and 2.2e-3 on "
    "2 (strong scaling: the same 4,096 + 256 points), against 1.97e-3 for the continuous-time PINN of "
    "Raissi et al. (5 x 100 network, 20,000 points, L-BFGS to convergence); u and v alone are less "
    "accurate (5e-3 to 1e-2) because a small error in the phase of h moves them but not |h|. The "
    "initial value is built into the outputs, and L-BFGS does most of the work: |h| was at 3.6e-2 "
    "after the 2,000 Adam steps.",
    "**navier_stokes_inverse**: lambda1 and lambda2 from 2,000 velocity observations (u and v, the "
    "derived quantities psi_y and -psi_x of the stream function; the pressure is never observed) and "
    "2,048 + 2,048 collocation points. On clean data 2 ranks agree with 1: lambda1 within 0.005% and "
    "lambda2 within 0.7% on both, against 0.08% and 4.7% in Raissi et al. (cylinder wake, 5,000 "
    "observations; a harder flow, so this is a check of the method, not a like-for-like comparison). "
    "The flow is a Taylor-Green vortex carried by a uniform stream, an exact solution: without the "
    "stream u.grad(u) is a gradient that the pressure absorbs whatever lambda1 is, and lambda1 could "
    "not be identified. After the 2,000 Adam steps lambda1 was 0.87 and lambda2 0.0063; L-BFGS "
    "identifies them. With 1% noise on every observation (`navier_stokes_inverse_noisy`, 1 rank) lambda1 is "
    "within 0.03% and lambda2 within 0.4%. The 2-rank run on noisy data was left out for time.",
    "**allen_cahn misses its target** (2.2e-2 on 1 rank against 1e-2; DeepXDE's own example in this "
    "setting reports 1.5e-2). What limits it is one place: x = 0, where u starts at the unstable "
    "equilibrium u = 0 of the reaction 5(u - u^3) and grows only through diffusion. A residual error "
    "of size e there grows like e exp(5 t): at t = 1 the reference has u(0, 1) = 0.275 and the PINN "
    "0.49, while the error away from x = 0 stays below 1e-2 (the error at t = 0.25 is 3.3e-3, at "
    "t = 0.5 8.5e-3, at t = 1 4.2e-2). Settings tried (`problems/allen_cahn.yaml`): 3 x 20 with "
    "10,000 Adam then 5,000 L-BFGS steps, 2.6e-2 (Adam alone left 0.39); 3 x 32, slower per step and "
    "no better after 1,000 L-BFGS steps; the shipped 2,000 Adam then 12,000 L-BFGS steps, 2.2e-2 in "
    "5 minutes, still falling by ~5e-4 per 1,000 steps at the end. Training that respects causality "
    "in time, or sampling more points where the residual is large (adaptive sampling, issue 18), is "
    "what the literature uses for this.",
    "**Adaptive points and loss weights (issue 18), measured 2026-12-07 on a 2-core AMD EPYC VM.** "
    "Soft-constraint Burgers (target 1e-3) **meets it on 1 and 2 ranks with a fresh block of points every "
    "100 Adam steps** (`burgers_soft_resample`: every term's points, 6,000 Adam then L-BFGS): 5.8e-4 on 1 "
    "rank and 4.6e-4 on 2, against 1.58e-3 and 1.61e-3 for the spec as shipped on the same machine (2 ranks "
    "weak: twice the points; 12-01's Intel VM reached 8.4e-4 with the shipped spec on 2 ranks: single "
    "float32 runs differ this much between machines). They also end at a lower training loss (4.6e-6 and "
    "3.5e-6 against 1.2e-5 and 1.1e-5). The 1-rank run's L-BFGS stopped at 4,458 of its 6,000 steps: float32 could lower the loss no further "
    "(before this session's fix such steps were accepted unchanged, at 2 steps/s). Earlier settings, "
    "1 rank: RAD every 500 Adam steps 2.45e-3, RAR (512 points every 500 steps) 2.11e-3, grad-norm "
    "weights every 500 steps 1.82e-3, RAD through L-BFGS 4.2e-3: their points sit where the residual is "
    "hardest and 4,000 L-BFGS steps did not finish on them. **Allen-Cahn (target 5e-3) meets it on 1 and "
    "2 ranks with causal weights and the residual weighted near x = 0** (`allen_cahn_causal100_x0`): the "
    "pde residual multiplied by 1 + 3 exp(-(x/0.1)^2), so a point's squared residual weighs 16 at x = 0, "
    "4.4 at |x| = 0.1 and 1.1 at 0.2, and causal weights with Wang et al.'s final epsilon of 100 (not 1) for 3,000 Adam "
    "steps, then 11,000 L-BFGS steps: 1.24e-3 on 1 rank in 486 s and 9.0e-4 on 2 in 431 s, against "
    "2.19e-2 / 1.97e-2 for the spec as shipped. x = 0 is where u starts at the reaction's unstable "
    "equilibrium u = 0, so a residual error there grows like exp(5 t) (above): with the weight, u(0, 1) is "
    "0.278 on 1 rank (0.389 without it; the reference 0.275), and 31% of the squared error lies in "
    "|x| < 0.2 (99% without it). With the weight, 1 and 2 "
    "ranks follow each other (5.3e-2 / 5.4e-2 at step 4,000, 4.1e-3 / 3.1e-3 at 9,000) and both stay under "
    "5e-3 for the last 5,000 steps. Not rows: the same with seed 1, 7.1e-4 on 1 rank and 7.8e-4 on 2; "
    "1 rank, the weight with the shipped steps and no causal weights, 3.2e-3; 1 rank, a weight of 100 "
    "(1 + 9 exp(...)) with causal weights, 2.0e-3. The same causal setting without the weight (`allen_cahn_causal100_lbfgs`) reached 7.3e-4 on "
    "2 ranks in 376 s but 1.20e-2 on 1 rank in 510 s. Both train on the same 8,000 points (strong scaling) "
    "and differ only in the order float64 sums are taken: the 2-rank error fell from 1.8e-2 to 2.8e-3 "
    "between steps 10,000 and 12,000 as x = 0 settled; the 1-rank one was still 1.7e-2 at step 12,000. "
    "The same 2-rank run continued to 15,000 L-BFGS steps (not a row) rose from 7.3e-4 at step 14,000 to "
    "3.4e-3 at 18,000 while its loss still fell: without the weight, whether a run ends under 5e-3 "
    "depends on rounding (2,000 Adam then 13,000 L-BFGS steps, also not rows: 1.22e-2 on 1 rank in 493 s, "
    "1.13e-2 on 2 in 392 s). Causal weights "
    "with 5,000 Adam then 9,000 L-BFGS steps (`allen_cahn_causal100`) gave 1.32e-2 on 1 rank and 9.0e-3 on "
    "2, against "
    "2.19e-2 / 1.97e-2 plain (with 8,000 causal Adam steps and 6,000 L-BFGS instead: 1.51e-2 on 2 ranks, "
    "356 s: the L-BFGS steps count more); Wu et al.'s own setting (3 x 64, 2,000 points, resampled every "
    "100 of 10,000 Adam steps, then L-BFGS) 1.73e-2; RAD through L-BFGS 1.99e-2; causal with epsilon 1 "
    "1.92e-2. Every run without the weight but the 2-rank `allen_cahn_causal100_lbfgs` has the error at x = 0 described above "
    "(97-99% of the squared error in |x| < 0.2; u(0, 1) 0.389 against 0.275 on 1 rank, where 2 ranks have "
    "0.273 and 58% of a 16 times smaller error there): `pinnrun predict` shows the trained residual u_t - 0.001 u_xx - 5(u - u^3) at (0, 0) "
    "is 1.6e-2 (Wu et al.'s setting) where the solution's own growth there is 2e-3, and the reaction "
    "amplifies it by exp(5 t). Wall times of rows measured while tests ran on the same 2 cores (burgers_soft on 2 ranks, "
    "burgers_soft_resample on 1, allen_cahn_causal100 on 1) are upper bounds. 2 ranks choose and "
    "weight exactly as 1 rank (tests/test_adaptive_sampling.py, tests/test_loss_balancing.py).",
]


def targets(rows: list[dict]) -> list[str]:
    """The targets table: every row of a targeted problem, its value, and whether it met the target
    within TIME_LIMIT."""
    by_name = {(r["problem"], r["ranks"]): r for r in rows}
    lines = [
        "| problem | ranks | quantity | target | measured | wall | met | published |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for problem, what, read, target, published in TARGETS:
        for ranks in (1, 2):
            r = by_name.get((problem, ranks))
            if r is None:
                continue
            value, wall = read(r["summary"]), r["summary"]["wall_seconds"]
            met = (
                "–"
                if target is None or value is None
                else ("yes" if value <= target and wall <= TIME_LIMIT else "**no**")
            )
            lines.append(
                f"| {problem} | {ranks} | {what} | {'–' if target is None else f'{target:g}'} | "
                f"{_num(value, '.2e')} | {wall:.0f} s | {met} | {published or '–'} |"
            )
    return lines


def command(problem: str, ranks: int) -> list[str]:
    spec, sets = VARIANTS.get(problem, (problem, []))
    return [
        "pinnrun",
        "train",
        f"problems/{spec}.yaml",
        "--np",
        str(ranks),
        *[arg for s in sets for arg in ("--set", s)],
    ]


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
    return {
        "problem": problem,
        "ranks": summary["ranks"],
        "command": shlex.join(command(problem, summary["ranks"])),
        "launch": {
            "launcher": run_info["launcher"],
            "controller": run_info["controller"],
            "created": run_info["created"],
            "tf_threads": [rank0["intra_op"], rank0["inter_op"]],
            "versions": {k: env[k] for k in ("tensorflow", "horovod", "python")},
        },
        "summary": summary,
        "folder": str(out.relative_to(ROOT)),
    }


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
    phases = ", ".join(
        f"{p['name']} {p['steps']}" + (f" ({p['stop_reason']})" if p["stop_reason"] != "steps done" else "")
        for p in s["phases"]
    )
    pts = "+".join(str(v) for v in s["points"]["global"].values())
    return (
        f"| {r['problem']} | {r['ranks']} | {s['scaling']} | {pts} | {phases} | "
        f"{error(s)} | {parameters(s)} | {_num(s['final_loss'], '.2e')} | "
        f"{s['wall_seconds']:.0f} s | {1 / s['seconds_per_step']:.1f} | {r['launch']['created'][:10]} |"
    )


def error(summary: dict) -> str:
    """The combined L2 error, then each compared field's when there are several: `2.9e-02 (u 2.1e-02, ...)`."""
    each = {k: v for k, v in (summary.get("l2_relative_errors") or {}).items() if v is not None}
    text = _num(summary["l2_relative_error"], ".2e")
    return text + (" (" + ", ".join(f"{k} {v:.2e}" for k, v in each.items()) + ")" if len(each) > 1 else "")


def parameters(summary: dict) -> str:
    """Identified unknowns: `D = 0.100187 (true 0.1, relative error 0.0019)`; '–' for a forward problem."""
    found = summary.get("parameters") or {}
    return (
        "; ".join(
            f"{name} = {p['value']:.6g}"
            + (
                f" (true {p['true_value']:g}, relative error {p['relative_error']:.2g})"
                if p.get("true_value") is not None
                else ""
            )
            for name, p in found.items()
        )
        or "–"
    )


def _num(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)  # no reference, or a diverged (strict-JSON null) loss


def launch_paths(rows: list[dict]) -> str:
    """How the ranks ran, as the run folders say (not as this script assumes)."""
    seen = []
    for r in rows:
        launch = r["launch"]
        how = (
            "one process, no launcher"
            if launch["launcher"] == "direct"
            else f"`{launch['launcher']}` with Horovod's {launch['controller'].upper()} controller"
        )
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
        "The L2 relative error is measured against each spec's reference on its reference grid, over every "
        "compared field together; with several fields each one's error follows in brackets (derived "
        "quantities included: nls's h is |h|, navier_stokes_inverse's u and v are the stream function's "
        "velocity). The references: exact solutions, Burgers' Cole-Hopf solution "
        "(`pinnrun/problem/cole_hopf.py`), and solutions computed by scripts of this project "
        "(`scripts/make_nls_reference.py`: split-step Fourier; `scripts/make_allen_cahn_reference.py`: "
        "method of lines), which tests/test_computed_references.py checks against Raissi's and DeepXDE's "
        "data. On a region that is not a box (poisson_lshape, heat_disk) only grid points inside it count. "
        "Identified parameters are the unknowns of an inverse problem at the end of training, against the "
        "value that made the data (`problems/data/`, made by `scripts/make_observations.py`; each spec's "
        "header says how). wave1d is the exception among these: a plain PINN does not resolve its "
        "0.5 sin(4 pi x) cos(8 pi t) mode (the test case of Wang, Yu & Perdikaris, J. Comput. Phys. 2022, "
        "for adaptive loss weights); its spec's comment lists the settings tried and their errors. "
        "An L-BFGS phase that stopped before its steps says why; 'line search found no decrease' "
        "means float32 precision was reached.",
        "",
        "Reading the table: with weak scaling, 2 ranks train on twice the points of 1 rank, so their "
        "wall times are not a speed-up measurement (`pinnrun scale` is for that). With strong scaling, "
        "2 ranks split the same points. Observation data is never multiplied: 2 ranks split the "
        "measurements. Adam steps/s is the inverse of the median time of an Adam step; every rank takes "
        "every step, so it is the job's rate. Rows measured before 2026-12-06 ran on an earlier 2-core VM "
        "that was about 1.4 times faster (the demo's training: 73 s there, 101 s on the 2026-12-06 "
        "machine, same code); rows of 2026-12-07 ran on a 2-core AMD EPYC VM, slower again (burgers_soft's "
        "Adam steps/s: 54 there, 199 on 12-01's VM): compare wall times within one date only.",
        "",
        "## Targets",
        "",
        "The paper's cases and the problem library, against the targets set for this 2-core machine "
        "(each run within 10 minutes), with the published figures beside them:",
        "",
        *targets(rows),
        "",
        *[line for note in NOTES for line in (note, "")],
        "poisson1d_paper, the paper's first case, is studied by its h-analysis in "
        "[scaling.md](scaling.md#h-analysis-in-the-papers-setting-poisson-on--1-7).",
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
