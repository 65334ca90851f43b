"""Real `horovodrun -np 2` runs through `pinnrun train` (small nets, few steps).

These prove the distributed part: strong scaling reproduces one rank, weak
scaling shards one global set, ranks stay bit-identical, reported losses are
global means, and a run folder is complete.
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

from helpers import PROBLEMS, load, spec_dict

pytest.importorskip("horovod.tensorflow")

SMALL = ["network.hidden=[16,16]", "network.dtype=float64", "sampling.points.burgers=512", "sampling.points.initial=64",
         "sampling.points.walls=64", "training.adam.steps=20", "training.log_every=1",
         "training.adam.learning_rate=0.005"]


def pinnrun(*args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pinnrun.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def train(out: Path, spec: str, np_: int, *sets: str) -> dict:
    proc = pinnrun("train", PROBLEMS / f"{spec}.yaml", "--np", np_, "--out", out,
                   *[a for s in sets for a in ("--set", s)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((out / "summary.json").read_text())


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    made = {}
    made["strong1"] = base / "strong1", train(base / "strong1", "burgers_soft", 1, *SMALL, "scaling=strong")
    made["strong2"] = base / "strong2", train(base / "strong2", "burgers_soft", 2, *SMALL, "scaling=strong",
                                              "training.lbfgs.steps=20")
    made["weak2"] = base / "weak2", train(base / "weak2", "burgers_soft", 2, *SMALL, "training.adam.steps=2",
                                          "training.lbfgs.steps=0", "reference=null")
    return made


def test_strong_two_ranks_reproduce_the_one_rank_loss_trajectory(runs):
    one = [r["loss"] for r in metrics(runs["strong1"][0]) if r["phase"] == "adam"]
    two = [r["loss"] for r in metrics(runs["strong2"][0]) if r["phase"] == "adam"]
    assert len(one) == len(two) == 20
    assert one[-1] < 0.9 * one[0]  # it did train
    rel = np.abs(np.array(two) - np.array(one)) / np.abs(one)
    assert rel.max() <= 1e-4, rel
    s1, s2 = runs["strong1"][1], runs["strong2"][1]
    assert s2["points"]["global"] == s1["points"]["global"] == {"burgers": 512, "initial": 64, "walls": 64}
    assert s2["points"]["per_rank"] == {"burgers": 256, "initial": 32, "walls": 32}


def test_weak_two_ranks_hold_exactly_the_one_rank_2n_set(runs, tmp_path):
    from pinnrun.problem.problem import build_problem
    from pinnrun.sampling.collocation import sample_problem
    from pinnrun.worker import digest

    out, summary = runs["weak2"]
    assert summary["points"]["global"] == {"burgers": 1024, "initial": 128, "walls": 128}
    # no reference: no error, but predictions on the default grid all the same
    assert summary["l2_relative_error"] is None
    with np.load(out / "predictions.npz") as p:
        assert sorted(p.files) == ["t", "u", "x"] and p["u"].shape == (256, 101)
    # each rank trained on exactly its block of the global sequence...
    pb = build_problem(load(out / "spec.yaml"))
    for rank, got in enumerate(summary["point_digests"]):
        shard = sample_problem(pb, "sobol", 0, rank, 2, "weak")
        assert got == {name: digest([p.x]) for name, p in shard.items()}
    # ...and together they are the 1-rank set with 2N points: same first loss, same model
    single = train(tmp_path / "single", "burgers_soft", 1, *SMALL, "training.adam.steps=2",
                   "sampling.points.burgers=1024", "sampling.points.initial=128", "sampling.points.walls=128")
    assert single["points"]["global"] == summary["points"]["global"]
    first_two = metrics(out)[0]["loss"]
    first_one = metrics(tmp_path / "single")[0]["loss"]
    assert first_two == pytest.approx(first_one, rel=1e-12)


def test_parameters_identical_on_all_ranks_after_adam_and_lbfgs(runs):
    summary = runs["strong2"][1]
    assert set(summary["param_digests"]) == {"adam", "lbfgs"}
    for phase, digests in summary["param_digests"].items():
        assert len(digests) == 2 and digests[0] == digests[1], phase
    assert summary["param_digests"]["adam"] != summary["param_digests"]["lbfgs"]  # L-BFGS moved them
    assert summary["ranks_in_sync"] is True
    lbfgs = [p for p in summary["phases"] if p["name"] == "lbfgs"][0]
    assert lbfgs["steps"] > 0 and lbfgs["evaluations"] >= lbfgs["steps"]


def test_reported_loss_is_the_mean_of_the_ranks_local_losses(runs):
    records = metrics(runs["strong2"][0])
    assert len(records) > 20
    differ = 0
    for r in records:
        local = np.array(r["rank_losses"])
        assert local.shape == (2, 3)
        np.testing.assert_allclose(list(r["losses"].values()), local.mean(axis=0), rtol=1e-12)
        differ += not np.allclose(local[0], local[1])
    assert differ == len(records)  # the ranks' local losses really are different shards
    total = [sum(r["losses"].values()) for r in records]  # all weights are 1 here
    np.testing.assert_allclose([r["loss"] for r in records], total, rtol=1e-12)


def test_train_poisson_two_ranks_end_to_end(tmp_path):
    out = tmp_path / "poisson"
    proc = pinnrun("train", PROBLEMS / "poisson1d.yaml", "--np", 2, "--out", out,
                   "--set", "training.adam.steps=500", "--set", "training.lbfgs.steps=200")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "L2 relative error" in proc.stdout and str(out) in proc.stdout
    for name in ["spec.yaml", "run.json", "env.json", "metrics.jsonl", "events.jsonl", "summary.json",
                 "predictions.npz", "worker.log", "checkpoint/model.index"]:
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
    curve = [r["l2_relative_error"] for r in metrics(out) if r["l2_relative_error"] is not None]
    assert len(curve) >= 2 and curve[0] > 10 * min(curve) and min(curve) < 1e-3
    # the held-out loss and the gap
    assert summary["train_test_gap"] == pytest.approx(summary["test_loss"] - summary["train_loss"])
    assert summary["train_loss"] == pytest.approx(sum(summary["train_losses"].values()))


def test_ctrl_c_stops_all_ranks_and_keeps_what_was_written(tmp_path):
    out = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "pinnrun.cli", "train", str(PROBLEMS / "burgers_soft.yaml"),
                             "--np", "2", "--out", str(out), "--set", "training.log_every=10",
                             "--set", "training.adam.steps=100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "metrics.jsonl").exists():
        time.sleep(0.5)
    assert (out / "metrics.jsonl").exists(), "training never started"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert metrics(out)  # progress so far is kept
    time.sleep(1)
    leftover = subprocess.run(["pgrep", "-f", f"pinnrun.worker {out}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "a rank survived Ctrl-C"
    assert "Traceback" not in output


def test_a_failing_worker_records_why_and_exits_non_zero(tmp_path):
    """A rank that fails after launch (here: its reference file vanished) leaves a
    summary and an event with the reason; the launcher shows the ranks' own lines."""
    from pinnrun.launch.train import rank_errors
    from pinnrun.spec.loader import dump_spec

    data = spec_dict("poisson1d")
    x = np.linspace(-1, 1, 5)
    np.savez(tmp_path / "ref.npz", x=x, u=np.sin(np.pi * x))
    data["reference"] = {"file": str(tmp_path / "ref.npz")}
    data["training"].update(adam={"steps": 3}, lbfgs={"steps": 0})
    spec_path = tmp_path / "ok.yaml"
    spec_path.write_text(__import__("yaml").safe_dump(data))
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text(dump_spec(load(spec_path).spec))
    (tmp_path / "ref.npz").unlink()
    proc = subprocess.run([sys.executable, "-m", "pinnrun.worker", str(run)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "file not found" in summary["reason"]
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "failed" and "file not found" in events[-1]["reason"]
    log = "\n".join(f"[0]<stderr>:{line}" for line in proc.stderr.splitlines())
    shown = rank_errors("[1]<stdout>:noise\n" + log + "\nTraceback of horovodrun itself")
    assert any("file not found" in line for line in shown)
    assert not any("horovodrun itself" in line for line in shown)
