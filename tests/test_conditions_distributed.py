"""Real 2-rank runs of what issue 13 added, each against 1 rank on the same global
points and data (strong scaling, odd counts so the ranks hold unequal blocks):

- an inverse problem: the unknown diffusivity follows the same trajectory, step by step;
- a periodic condition (paired points on two parts);
- a CSG region sampled by rejection: every rank holds exactly its block of the points
  one rank draws, and training matches.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from helpers import PROBLEMS, load
from test_distributed import LOSS_RTOL, Run, max_rel, pinnrun

SMALL = [
    "network.hidden=[16,16]",
    "network.dtype=float64",
    "training.adam.steps=10",
    "training.lbfgs.steps=10",
    "training.log_every=1",
    "training.adam.learning_rate=0.005",
    "scaling=strong",
]

PERIODIC_HEAT = {
    "name": "periodic_heat",
    "variables": {"space": ["x"], "time": "t"},
    "outputs": ["u"],
    "constants": {"k": 0.05},
    "geometry": {"interval": [0, 2]},
    "time_domain": [0, 1],
    "pde": {"heat": "u_t - k*u_xx"},
    "conditions": {
        "start": {"kind": "initial", "value": "sin(pi*x)"},
        "wrap": {"kind": "periodic", "on": ["left", "right"], "derivatives": ["u_x"]},
    },
    "sampling": {"method": "sobol", "points": {"heat": 255, "start": 63, "wrap": 33}},
    "network": {"hidden": [16, 16]},
    "training": {"adam": {"steps": 10}},
    "reference": {"exact": "exp(-k*pi**2*t)*sin(pi*x)"},
}
SQUARE_WITH_HOLE = {
    "name": "holed_poisson",
    "variables": {"space": ["x", "y"]},
    "outputs": ["u"],
    "geometry": {
        "difference": [
            {"rectangle": [[-1, 1], [-1, 1]], "name": "outer"},
            {"disk": {"center": [0.2, 0.1], "radius": 0.4}, "name": "hole"},
        ]
    },
    "pde": {"poisson": "u_xx + u_yy + 2*pi**2*sin(pi*x)*sin(pi*y)"},
    "conditions": {
        "walls": {"kind": "dirichlet", "on": "outer", "value": "sin(pi*x)*sin(pi*y)"},
        "rim": {"kind": "neumann", "on": "hole", "value": "0"},
    },
    "sampling": {"method": "halton", "points": {"poisson": 301, "walls": 65, "rim": 33}},
    "network": {"hidden": [16, 16]},
    "training": {"adam": {"steps": 10}},
    "reference": {"exact": "sin(pi*x)*sin(pi*y)"},
}


def train(spec, out, ranks: int, *sets: str) -> Run:
    args = [a for s in (*SMALL, *sets) for a in ("--set", s)]
    proc = pinnrun("train", spec, "--np", ranks, "--out", out, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Run(out)


def assert_same_run(two: Run, one: Run, label: str) -> None:
    for phase in ("adam", "lbfgs"):
        a, b = two.phase(phase), one.phase(phase)
        assert [r["step"] for r in a] == [r["step"] for r in b] and len(a) == 10, (label, phase)
        total = max_rel([r["loss"] for r in a], [r["loss"] for r in b])
        terms = max_rel([list(r["losses"].values()) for r in a], [list(r["losses"].values()) for r in b])
        print(f"{label} {phase}: max rel diff total {total:.1e}, per term {terms:.1e}")
        assert total <= LOSS_RTOL and terms <= LOSS_RTOL, (label, phase, total, terms)
    assert one.phase("lbfgs")[-1]["loss"] < one.phase("adam")[0]["loss"]


def write(tmp_path, spec: dict):
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.slow
def test_inverse_problem_on_two_ranks_follows_one_rank(tmp_path):
    spec = PROBLEMS / "inverse_diffusion.yaml"
    counts = ["sampling.points.diffusion=255", "sampling.points.start=63", "sampling.points.ends=33"]
    one = train(spec, tmp_path / "one", 1, *counts)
    two = train(spec, tmp_path / "two", 2, *counts)
    assert_same_run(two, one, "inverse")
    d_one = [r["parameters"]["D"] for r in one.records]
    d_two = [r["parameters"]["D"] for r in two.records]
    assert max_rel(d_two, d_one) <= LOSS_RTOL
    assert d_one[-1] != pytest.approx(0.5)  # D was trained, not left at its initial value
    for run in (one, two):
        report = run.summary["parameters"]["D"]
        assert report["initial"] == 0.5 and report["true_value"] == 0.1
        assert report["value"] == pytest.approx(d_one[-1], rel=LOSS_RTOL)
        assert report["relative_error"] == pytest.approx(abs(report["value"] - 0.1) / 0.1)
    # the 50 observations are split, not repeated: 25 + 25
    assert two.summary["points"]["global"]["measured"] == 50
    assert two.summary["points"]["per_rank"]["measured"] == 25


@pytest.mark.slow
def test_periodic_condition_on_two_ranks_follows_one_rank(tmp_path):
    spec = write(tmp_path, PERIODIC_HEAT)
    one = train(spec, tmp_path / "one", 1)
    two = train(spec, tmp_path / "two", 2)
    assert_same_run(two, one, "periodic")
    assert one.records[-1]["losses"]["wrap"] < one.records[0]["losses"]["wrap"]


@pytest.mark.slow
def test_csg_region_on_two_ranks_holds_one_rank_s_points_and_follows_it(tmp_path):
    from pinnrun.problem.build import build_problem
    from pinnrun.sampling.collocation import sample_problem
    from pinnrun.worker import digest

    spec = write(tmp_path, SQUARE_WITH_HOLE)
    one = train(spec, tmp_path / "one", 1)
    two = train(spec, tmp_path / "two", 2)
    assert_same_run(two, one, "csg")
    problem = build_problem(load(one.out / "spec.yaml"))
    whole = {name: b.x for name, b in sample_problem(problem, "halton", 0, 0, 1, "strong").items()}
    for name, x in whole.items():
        assert len(x) == SQUARE_WITH_HOLE["sampling"]["points"][name]
        assert problem.domain.contains(x).all()
        half = (len(x) + 1) // 2
        expected = [digest([x[:half]]), digest([x[half:]])]
        assert [d[name] for d in two.summary["point_digests"]] == expected, name
    hole = np.hypot(whole["poisson"][:, 0] - 0.2, whole["poisson"][:, 1] - 0.1)
    assert hole.min() >= 0.4 - 1e-9
