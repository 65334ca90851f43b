"""Real 2-rank runs through `pinnrun train`, compared with 1 rank (small nets, few steps).

- Strong scaling, odd point counts (the 2 ranks hold unequal blocks): through every local
  launch path (mpirun with Horovod's MPI controller, the default for `--np 2`; pinnrun's own
  Gloo rendezvous; horovodrun) the whole trajectory, Adam and L-BFGS, the final parameters
  and the predictions are the 1-rank run's to rounding level.
- Weak scaling: 2 ranks of N points are 1 rank of 2N points, over the whole trajectory.
- A rank started from another initialisation ends bit-identical (rank 0's broadcast).
- A rank that fails mid-training stops the job: non-zero exit, no rank left running.

Faults are put into the real ranks by tests/inject/sitecustomize.py (on the PYTHONPATH
the launchers pass on), never by changing pinnrun. Runs are shared between tests
(`trained`, module-scoped) and made only when a selected test asks for them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import PROBLEMS, ROOT, load

pytest.importorskip("horovod.tensorflow")

INJECT = ROOT / "tests" / "inject"
SMALL = [
    "network.hidden=[16,16]",
    "network.dtype=float64",
    "training.adam.steps=10",
    "training.lbfgs.steps=10",
    "training.log_every=1",
    "training.adam.learning_rate=0.005",
    "reference=null",
]
# Odd counts: 2 ranks hold unequal blocks (written out: 256 + 255, 32 + 31, 33 + 32 points).
STRONG_POINTS = {"burgers": 511, "initial": 63, "walls": 65}
STRONG_BLOCKS = {"burgers": [(0, 256), (256, 511)], "initial": [(0, 32), (32, 63)], "walls": [(0, 33), (33, 65)]}
WEAK_POINTS = {"burgers": 255, "initial": 31, "walls": 33}  # per rank; 1 rank gets twice as many
# Rounding level, float64. Measured 2026-11-30 (2 cores; `pytest -s` prints them): 1 vs 2 ranks, strong,
# the three launch paths bit-identical to each other: losses within 2.7e-16 relative in Adam, 2.8e-15
# (total) and 3.8e-14 (per term) in L-BFGS; parameters within 8.6e-15 and predictions 3.8e-14 of their
# largest magnitude. Weak: L-BFGS terms 2.1e-13, parameters 7.8e-14, predictions 1.4e-13. The smallest
# break measured, gradients summed instead of averaged (Adam is nearly blind to a gradient's scale),
# moves Adam's total loss by 7e-9, its terms by 3e-7, L-BFGS's loss by 2e-8, the predictions by 8e-8.
LOSS_RTOL = 1e-11
VALUE_RTOL = 1e-11
# How each local path starts 2 ranks: pinnrun train flags -> (launcher, controller) in run.json.
LAUNCH_PATHS = {
    "mpirun": ([], ("mpirun", "mpi")),
    "gloo": (["--cluster", {"hosts": [{"name": "localhost", "slots": 2}], "controller": "gloo"}], ("local", "gloo")),
    "horovodrun": (["--launcher", "horovodrun"], ("horovodrun", "gloo")),
}
SURVIVOR_WAIT = 30  # seconds a stopped job's ranks may take to disappear


def pinnrun(*args, env: dict | None = None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pinnrun.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else os.environ | env,
    )


def injected(folder: Path, **faults) -> dict:
    """Environment that puts tests/inject/sitecustomize.py into every rank with `faults`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(filter(None, [str(INJECT), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "PINNRUN_TEST_INJECT": json.dumps({"dir": str(folder), **faults})}


def launch_flags(path: str, folder: Path) -> list:
    """The path's `pinnrun train` flags, a cluster spec written to `folder` where one is needed."""
    flags = list(LAUNCH_PATHS[path][0])
    for i, flag in enumerate(flags):
        if isinstance(flag, dict):
            spec = folder / f"cluster-{path}.yaml"
            spec.write_text(yaml.safe_dump(flag))
            flags[i] = spec
    return flags


def point_sets(points: dict) -> list[str]:
    return [f"sampling.points.{name}={n}" for name, n in points.items()]


class Run:
    """A finished run folder, read back."""

    def __init__(self, out: Path):
        self.out = out
        self.summary = json.loads((out / "summary.json").read_text())
        self.run = json.loads((out / "run.json").read_text())
        self.records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]

    def phase(self, name: str) -> list[dict]:
        return [r for r in self.records if r["phase"] == name]

    def predictions(self) -> np.ndarray:
        with np.load(self.out / "predictions.npz") as p:
            return p["u"]

    def parameters(self) -> list[np.ndarray]:
        """Rank 0's final parameters, from the run's final checkpoint (as `pinnrun predict` reads them)."""
        from pinnrun.results.trained import load_run

        return [v.numpy() for v in load_run(self.out).variables]


def train(out: Path, np_: int, *sets: str, flags=(), env: dict | None = None) -> Run:
    proc = pinnrun(
        "train",
        PROBLEMS / "burgers_soft.yaml",
        "--np",
        np_,
        "--out",
        out,
        *flags,
        *[a for s in sets for a in ("--set", s)],
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Run(out)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`trained(name)`: the named run, made on first use and shared by the module's tests."""
    base = tmp_path_factory.mktemp("runs")
    made = {}
    recipes = {
        "strong-1": lambda: train(base / "strong-1", 1, *SMALL, *point_sets(STRONG_POINTS), "scaling=strong"),
        "weak-1": lambda: train(
            base / "weak-1", 1, *SMALL, *point_sets({k: 2 * n for k, n in WEAK_POINTS.items()}), "scaling=weak"
        ),
        # micro-batched (319 points a rank in 4 micro-batches, every term padded): the same trajectory
        "weak-2": lambda: train(
            base / "weak-2", 2, *SMALL, *point_sets(WEAK_POINTS), "scaling=weak", flags=["--micro-batch", "100"]
        ),
        **{
            f"strong-2-{path}": (
                lambda path=path: train(
                    base / f"strong-2-{path}",
                    2,
                    *SMALL,
                    *point_sets(STRONG_POINTS),
                    "scaling=strong",
                    flags=launch_flags(path, base),
                )
            )
            for path in LAUNCH_PATHS
        },
    }

    def get(name: str) -> Run:
        if name not in made:
            made[name] = recipes[name]()
        return made[name]

    return get


def max_rel(got, expected) -> float:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    return float(np.max(np.abs(got - expected) / np.abs(expected)))


def max_rel_to_scale(got, expected) -> float:
    """Largest difference relative to the largest magnitude (values may cross zero)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


def assert_same_trajectory(two: Run, one: Run, label: str) -> None:
    """Every logged step of both phases: same steps, total and per-term losses to LOSS_RTOL;
    L-BFGS took the same decisions (iterations and evaluations)."""
    for phase, steps in (("adam", 10), ("lbfgs", 10)):
        a, b = two.phase(phase), one.phase(phase)
        assert [r["step"] for r in a] == [r["step"] for r in b] and len(a) == steps, (label, phase)
        total = max_rel([r["loss"] for r in a], [r["loss"] for r in b])
        terms = max_rel([list(r["losses"].values()) for r in a], [list(r["losses"].values()) for r in b])
        print(f"{label} {phase}: max rel diff total {total:.1e}, per term {terms:.1e}")
        assert total <= LOSS_RTOL and terms <= LOSS_RTOL, (label, phase, total, terms)
    assert [(p["name"], p["steps"], p["evaluations"]) for p in two.summary["phases"]] == [
        (p["name"], p["steps"], p["evaluations"]) for p in one.summary["phases"]
    ]
    assert one.phase("lbfgs")[-1]["loss"] < one.phase("adam")[-1]["loss"] < one.phase("adam")[0]["loss"]


def assert_same_model(two: Run, one: Run, label: str) -> None:
    params = max(max_rel_to_scale(a, b) for a, b in zip(two.parameters(), one.parameters(), strict=True))
    predictions = max_rel_to_scale(two.predictions(), one.predictions())
    print(f"{label}: max diff / max magnitude: parameters {params:.1e}, predictions {predictions:.1e}")
    assert params <= VALUE_RTOL and predictions <= VALUE_RTOL, (label, params, predictions)


def rank_digests(points: dict[str, np.ndarray], blocks: dict[str, list[tuple[int, int]]]) -> list[dict]:
    """What each rank's point digests must be if it holds exactly its block of `points`."""
    from pinnrun.worker import digest

    return [
        {name: digest([points[name][lo:hi]]) for name, (lo, hi) in ((n, b[r]) for n, b in blocks.items())}
        for r in range(2)
    ]


def one_rank_points(run: Run, scaling: str) -> dict[str, np.ndarray]:
    """The 1-rank run's points, sampled here from its own spec."""
    from pinnrun.problem.build import build_problem
    from pinnrun.sampling.collocation import sample_problem

    return {
        name: p.x
        for name, p in sample_problem(build_problem(load(run.out / "spec.yaml")), "sobol", 0, 0, 1, scaling).items()
    }


# --------------------------------------------------------------------------
# strong scaling: 1 rank vs 2 ranks, every local launch path
# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("path", LAUNCH_PATHS)
def test_strong_two_ranks_reproduce_one_rank_at_rounding_level(trained, path):
    one, two = trained("strong-1"), trained(f"strong-2-{path}")
    assert (two.run["launcher"], two.run["controller"]) == LAUNCH_PATHS[path][1]
    assert two.summary["ranks"] == 2 and one.summary["ranks"] == 1
    assert two.summary["points"]["global"] == one.summary["points"]["global"] == STRONG_POINTS
    # the two ranks hold the 1-rank set, split in unequal blocks, no point lost or repeated
    assert two.summary["point_digests"] == rank_digests(one_rank_points(one, "strong"), STRONG_BLOCKS)
    assert_same_trajectory(two, one, f"strong {path}")
    assert_same_model(two, one, f"strong {path}")


@pytest.mark.slow
def test_strong_every_launch_path_gives_the_same_bits(trained):
    """Averaging two numbers is the same arithmetic whatever carries them: MPI or Gloo."""
    runs = {path: trained(f"strong-2-{path}") for path in LAUNCH_PATHS}
    reference = runs["mpirun"]
    for path, run in runs.items():
        assert run.summary["param_digests"] == reference.summary["param_digests"], path
        assert [(r["loss"], r["losses"]) for r in run.records] == [
            (r["loss"], r["losses"]) for r in reference.records
        ], path


@pytest.mark.slow
@pytest.mark.parametrize("path", LAUNCH_PATHS)
def test_parameters_identical_on_all_ranks_after_adam_and_lbfgs(trained, path):
    summary = trained(f"strong-2-{path}").summary
    assert set(summary["param_digests"]) == {"adam", "lbfgs"}
    for phase, digests in summary["param_digests"].items():
        assert len(digests) == 2 and digests[0] == digests[1], phase
    assert summary["param_digests"]["adam"] != summary["param_digests"]["lbfgs"]  # L-BFGS moved them
    assert summary["ranks_in_sync"] is True


@pytest.mark.slow
def test_reported_loss_is_the_mean_of_the_ranks_local_losses(trained):
    records = trained("strong-2-mpirun").records
    assert len(records) == 20
    for r in records:
        local = np.array(r["rank_losses"])
        assert local.shape == (2, 3)
        # each rank's contribution is its sum of squares x 2 / global count: the mean is the global mean
        np.testing.assert_allclose(list(r["losses"].values()), local.mean(axis=0), rtol=1e-14)
        assert not np.allclose(local[0], local[1])  # the ranks' local losses really are different shards
        assert r["loss"] == pytest.approx(sum(r["losses"].values()), rel=1e-14)  # all weights are 1 here


# --------------------------------------------------------------------------
# weak scaling: 2 ranks of N points = 1 rank of 2N points
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_weak_two_ranks_of_n_points_are_one_rank_of_2n(trained):
    one, two = trained("weak-1"), trained("weak-2")
    assert (two.run["launcher"], two.summary["scaling"], two.summary["ranks"]) == ("mpirun", "weak", 2)
    assert two.summary["points"]["per_rank"] == WEAK_POINTS
    assert two.summary["micro_batches"] == {"count": 4, "points": 100}
    assert one.summary["micro_batches"] == {"count": 1, "points": None}
    shown = pinnrun("inspect", two.out)
    assert shown.returncode == 0 and "4 per step on rank 0, at most 100 points each" in shown.stdout, shown.stdout
    assert (
        two.summary["points"]["global"]
        == one.summary["points"]["global"]
        == {name: 2 * n for name, n in WEAK_POINTS.items()}
    )
    # rank r holds block r of the 1-rank run's 2N points
    blocks = {name: [(0, n), (n, 2 * n)] for name, n in WEAK_POINTS.items()}
    assert two.summary["point_digests"] == rank_digests(one_rank_points(one, "weak"), blocks)
    assert_same_trajectory(two, one, "weak")
    assert_same_model(two, one, "weak")
    assert two.summary["param_digests"]["lbfgs"][0] == two.summary["param_digests"]["lbfgs"][1]
    with np.load(two.out / "predictions.npz") as p:  # no reference: predictions on the default grid all the same
        assert sorted(p.files) == ["inside_domain", "is_scattered", "t", "u", "x"] and p["u"].shape == (256, 101)
        assert p["inside_domain"].all() and not p["is_scattered"]  # a box: every grid point counts
    assert two.summary["l2_relative_error"] is None


# --------------------------------------------------------------------------
# the broadcast: a rank that starts elsewhere ends bit-identical
# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("path", ["mpirun", "gloo"])
def test_a_rank_started_from_another_initialisation_ends_identical(trained, tmp_path, path):
    """Rank 1 builds its network from seed 7 (tests/inject): after rank 0's broadcast the run is
    the clean run, bit for bit."""
    from pinnrun.model.mlp import build_model
    from pinnrun.problem.build import build_problem
    from pinnrun.worker import digest

    clean = trained(f"strong-2-{path}")
    marks = tmp_path / "marks"
    run = train(
        tmp_path / "run",
        2,
        *SMALL,
        *point_sets(STRONG_POINTS),
        "scaling=strong",
        flags=launch_flags(path, tmp_path),
        env=injected(marks, seed={"rank": 1, "seed": 7}),
    )
    # the injection happened, on rank 1 only, and really gave other initial parameters
    assert sorted(p.name for p in marks.iterdir()) == ["init-1.json", "pid-0", "pid-1"]
    init = json.loads((marks / "init-1.json").read_text())
    loaded = load(run.out / "spec.yaml")
    rank0_initial = digest(p.numpy() for p in build_model(loaded.spec.network, build_problem(loaded), seed=0).params)
    assert init["seed_given"] == 0 and init["seed"] == 7 and init["digest"] != rank0_initial
    # ...and rank 0's parameters won: identical ranks, the clean run's numbers exactly
    assert run.summary["ranks_in_sync"] is True
    assert run.summary["param_digests"] == clean.summary["param_digests"]
    assert [(r["loss"], r["losses"]) for r in run.records] == [(r["loss"], r["losses"]) for r in clean.records]


# --------------------------------------------------------------------------
# a rank that fails
# --------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent has stopped running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.fixture(scope="module")
def failed_runs(tmp_path_factory):
    """`failed_runs(path)`: a 2-rank run whose rank 1 raises at step 5 (of 10 Adam steps)."""
    base = tmp_path_factory.mktemp("failed")
    made = {}

    def get(path: str):
        if path not in made:
            marks, out = base / f"marks-{path}", base / f"run-{path}"
            sets = [a for s in [*SMALL, *point_sets(STRONG_POINTS), "scaling=strong"] for a in ("--set", s)]
            proc = pinnrun(
                "train",
                PROBLEMS / "burgers_soft.yaml",
                "--np",
                2,
                "--out",
                out,
                *launch_flags(path, base),
                *sets,
                env=injected(marks, fail={"rank": 1, "step": 5}),
            )
            made[path] = proc, out, marks
        return made[path]

    return get


FAILURE = "injected failure: rank 1 stops at step 5"


@pytest.mark.slow
@pytest.mark.parametrize("path", ["mpirun", "gloo"])
def test_a_failing_rank_stops_the_job_and_no_rank_survives(failed_runs, path):
    proc, out, marks = failed_runs(path)
    assert proc.returncode != 0, proc.stdout
    run = json.loads((out / "run.json").read_text())
    assert (run["launcher"], run["controller"]) == LAUNCH_PATHS[path][1]
    fail = json.loads((marks / "fail-1.json").read_text())  # the injection happened, where it was meant to
    assert fail == {"phase": "adam", "step": 5}
    pids = [json.loads((marks / f"pid-{rank}").read_text()) for rank in range(2)]
    deadline = time.monotonic() + SURVIVOR_WAIT
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(map(alive, pids)), f"rank(s) still running: {[p for p in pids if alive(p)]}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["reason"]
    assert "failed" in proc.stdout and "from the worker log:" in proc.stdout
    # rank 1's own exception is in the log, under its rank's prefix
    prefix = "[1,1]<stderr>:" if path == "mpirun" else "[1]<stderr>:"
    assert f"{prefix}RuntimeError: {FAILURE}" in (out / "worker.log").read_text().splitlines()
    # training stopped where rank 1 failed: rank 0 logged steps 1-4 only
    assert [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())] == [1, 2, 3, 4]


@pytest.mark.slow
@pytest.mark.parametrize("path", ["mpirun", "gloo"])
def test_a_failing_rank_s_own_reason_is_shown_and_recorded(failed_runs, path):
    proc, out, _ = failed_runs(path)
    assert FAILURE in " ".join(proc.stdout.split())  # rich wraps long lines
    assert FAILURE in json.loads((out / "summary.json").read_text())["reason"]


# --------------------------------------------------------------------------
# end to end
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_train_poisson_two_ranks_end_to_end(tmp_path):
    out = tmp_path / "poisson"
    proc = pinnrun(
        "train",
        PROBLEMS / "poisson1d.yaml",
        "--np",
        2,
        "--out",
        out,
        "--set",
        "training.adam.steps=500",
        "--set",
        "training.lbfgs.steps=200",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "L2 relative error" in proc.stdout and str(out) in proc.stdout
    for name in [
        "spec.yaml",
        "run.json",
        "env.json",
        "metrics.jsonl",
        "events.jsonl",
        "summary.json",
        "predictions.npz",
        "worker.log",
    ]:
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").iterdir())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["ranks"] == 2 and summary["scaling"] == "weak"
    assert summary["l2_relative_error"] < 1e-3
    assert summary["seconds_per_step"] > 0 and summary["points_per_second"] > 0
    assert summary["wall_seconds"] > summary["compile_seconds"] > 0
    run = json.loads((out / "run.json").read_text())
    assert "mpirun -np 2 -H localhost:2" in run["command"] and run["ranks"] == 2
    env = json.loads((out / "env.json").read_text())
    assert [r["rank"] for r in env["ranks"]] == [0, 1] and env["horovod"] == "0.28.1"
    if len(os.sched_getaffinity(0)) == os.cpu_count() >= 2:  # each rank on its own cores
        first, second = (set(r["cores"]) for r in env["ranks"])
        assert first and second and not first & second
    with np.load(out / "predictions.npz") as p:
        assert p["u"].shape == p["u_reference"].shape == (1001,)
        err = np.linalg.norm(p["u"] - p["u_reference"]) / np.linalg.norm(p["u_reference"])
        assert err == pytest.approx(summary["l2_relative_error"], rel=1e-9)
    # the error curve: logged steps carry the error at that step (unless it would cost too much)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    curve = [r["l2_relative_error"] for r in records if r["l2_relative_error"] is not None]
    assert len(curve) >= 2 and curve[0] > 10 * min(curve) and min(curve) < 1e-3
    # the held-out loss and the gap
    assert summary["train_test_gap"] == pytest.approx(summary["test_loss"] - summary["train_loss"])
    assert summary["train_loss"] == pytest.approx(sum(summary["train_losses"].values()))


@pytest.mark.slow
def test_ctrl_c_stops_all_ranks_and_keeps_what_was_written(tmp_path):
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinnrun.cli",
            "train",
            str(PROBLEMS / "burgers_soft.yaml"),
            "--np",
            "2",
            "--out",
            str(out),
            "--set",
            "training.log_every=10",
            "--set",
            "training.adam.steps=100000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "metrics.jsonl").exists():
        time.sleep(0.5)
    assert (out / "metrics.jsonl").exists(), "training never started"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert (out / "metrics.jsonl").read_text().strip()  # progress so far is kept
    time.sleep(1)
    leftover = subprocess.run(["pgrep", "-f", f"pinnrun.worker {out}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "a rank survived Ctrl-C"
    assert "Traceback" not in output


@pytest.mark.slow
def test_quiet_shows_only_the_result_and_verbose_the_launch_command(tmp_path):
    quick = ["--set", "training.adam.steps=20", "--set", "training.lbfgs=null", "--set", "training.log_every=5"]
    proc = pinnrun("train", PROBLEMS / "poisson1d.yaml", "--np", 1, "--out", tmp_path / "q", "-q", *quick)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("finished in ") and lines[1] == f"results: {tmp_path / 'q'}"
    proc = pinnrun("train", PROBLEMS / "poisson1d.yaml", "--np", 1, "--out", tmp_path / "v", "-v", *quick)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    command = json.loads((tmp_path / "v" / "run.json").read_text())["command"]
    assert "$ " + command in " ".join(proc.stdout.split()) or "$ " in proc.stdout.splitlines()[0]
    assert "first 1 step(s) with compilation in" in proc.stdout and " adam step      20" in proc.stdout
    both = pinnrun("train", PROBLEMS / "poisson1d.yaml", "--np", 1, "-q", "-v")
    assert both.returncode == 2 and both.stderr.strip() == "error: -q and -v: give one of them"
