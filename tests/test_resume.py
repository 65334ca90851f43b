"""Real 2-rank runs that stop and continue: `kill -9` of a rank (in Adam, in L-BFGS) or SIGTERM
to the launcher, then `pinnrun train --resume`, ends bit-identical to a run that never stopped,
with metrics continuing without a repeated or missing step. Also: a diverging run stops with
status diverged and its last good checkpoint, a resume on another rank count, a full disk,
and what --resume refuses."""

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

from helpers import PROBLEMS, small_disk
from test_distributed import alive, injected, pinnrun

SETS = [
    "network.hidden=[16,16]",
    "network.dtype=float64",
    "training.adam.steps=1200",
    "training.lbfgs.steps=400",
    "training.log_every=50",
    "training.checkpoint.every_steps=200",
    "reference=null",
    "scaling=strong",
    "sampling.points.burgers=1000",
    "sampling.points.initial=100",
    "sampling.points.walls=100",
]
ARGS = [a for s in SETS for a in ("--set", s)]
STOP_WAIT = 120  # seconds for a run to reach the step where a test stops it (2 busy cores)


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    proc = pinnrun("train", PROBLEMS / "burgers_soft.yaml", "--np", 2, "--out", out, *ARGS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def start(out: Path, marks: Path) -> subprocess.Popen:
    return subprocess.Popen(
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
            *ARGS,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | injected(marks),
    )


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + STOP_WAIT
    while not condition():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.05)


def logged_past(out: Path, step: int) -> bool:
    try:
        return any(
            json.loads(line)["step"] > step
            for line in (out / "metrics.jsonl").read_text().splitlines()
            if line.endswith("}")
        )
    except (OSError, ValueError):
        return False


# how each test stops the first attempt, once it logged past `after`
STOPS = {
    "kill -9 rank 1 in adam": ("kill", 650),
    "kill -9 rank 1 in lbfgs": ("kill", 1420),
    "SIGTERM to the launcher": ("term", 900),
}


@pytest.mark.slow
@pytest.mark.parametrize("how", list(STOPS))
def test_a_stopped_run_resumed_ends_bit_identical_to_one_that_never_stopped(uninterrupted, tmp_path, how):
    kind, after = STOPS[how]
    out, marks = tmp_path / "run", tmp_path / "marks"
    proc = start(out, marks)
    try:
        wait_for(lambda: logged_past(out, after), f"logged past step {after}")
        stopped = time.monotonic()
        if kind == "kill":
            os.kill(json.loads((marks / "pid-1").read_text()), signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
        print(f"{how}: the launcher exited {time.monotonic() - stopped:.1f} s after it")  # docs/reliability.md
    finally:
        proc.kill()
    first = summary(out)
    if kind == "kill":
        assert proc.returncode == 137 and first["status"] == "failed", output
        assert first["reason"] == "rank 1 on " + os.uname().nodename + " was killed by SIGKILL"
    else:
        assert proc.returncode == 143 and first["status"] == "interrupted" and first["signal"] == "SIGTERM", output
        assert first["checkpoint"] == f"checkpoints/step-{first['step']:010d}.npz"  # a final one, where it stopped
        assert "pinnrun train --resume" in output
    pids = [json.loads((marks / f"pid-{r}").read_text()) for r in range(2)]
    wait_for(lambda: not any(map(alive, pids)), "saw every rank of the first attempt gone")

    resumed = pinnrun("train", "--resume", out)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming" in resumed.stdout
    done, straight = summary(out), summary(uninterrupted)
    assert done["status"] == "finished"
    # from the newest periodic checkpoint after a kill; from the final one written where the ranks stopped
    if kind == "term":
        assert done["resumed_from"]["step"] == first["step"]
    else:
        assert done["resumed_from"]["step"] % 200 == 0 and done["resumed_from"]["step"] >= after // 200 * 200
    assert done["param_digests"] == straight["param_digests"]  # bit-identical, on both ranks, after each phase
    assert done["final_loss"] == straight["final_loss"]
    got, want = metrics(out), metrics(uninterrupted)
    assert [r["step"] for r in got] == [r["step"] for r in want]  # no step repeated, none missing
    assert [r["loss"] for r in got] == [r["loss"] for r in want]
    assert [r["rank_losses"] for r in got] == [r["rank_losses"] for r in want]
    run = json.loads((out / "run.json").read_text())
    assert [a["from_step"] for a in run["attempts"]] == [done["resumed_from"]["step"]]
    assert (out / "attempts" / "1" / "summary.json").is_file()  # how the first attempt ended is kept
    assert not any(p.name.endswith(".tmp") for p in (out / "checkpoints").iterdir())


@pytest.mark.slow
def test_resuming_on_one_rank_reshards_the_same_global_points(uninterrupted, tmp_path):
    out, marks = tmp_path / "run", tmp_path / "marks"
    proc = start(out, marks)
    try:
        wait_for(lambda: logged_past(out, 450), "logged past step 450")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert summary(out)["status"] == "interrupted"
    resumed = pinnrun("train", "--resume", out, "--np", 1)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming on 1 rank(s) instead of 2: the same global points, sharded anew" in resumed.stdout
    done, straight = summary(out), summary(uninterrupted)
    assert done["ranks"] == 1 and done["points"]["global"] == straight["points"]["global"]
    assert done["resumed_from"]["ranks_before"] == 2
    # one rank sums the same points in another order: rounding-level differences, which Adam keeps
    # small (L-BFGS grows them to a few % over 400 iterations, measured)
    at_adam_end = [{r["step"]: r["loss"] for r in metrics(run)}[1200] for run in (out, uninterrupted)]
    assert at_adam_end[0] == pytest.approx(at_adam_end[1], rel=1e-6)
    assert [r["step"] for r in metrics(out)] == [r["step"] for r in metrics(uninterrupted)]


@pytest.mark.slow
def test_a_diverging_run_stops_with_its_last_good_checkpoint(tmp_path):
    out = tmp_path / "diverged"
    proc = pinnrun(
        "train",
        PROBLEMS / "poisson1d.yaml",
        "--np",
        2,
        "--out",
        out,
        # u is pulled toward -4 at the left end: log(u + 3) turns NaN when it passes -3 (measured
        # in one process: at step 254)
        "--set",
        "pde.poisson=u_xx + pi**2*sin(pi*x) + 0*log(u + 3)",
        "--set",
        "conditions.left.value=-4",
        "--set",
        "training.adam.learning_rate=1e-4",
        "--set",
        "training.adam.steps=3000",
        "--set",
        "training.log_every=10",
        "--set",
        "training.checkpoint.every_steps=50",
        "--set",
        "network.dtype=float64",
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    s = summary(out)
    assert s["status"] == "diverged" and s["phase"] == "adam"
    step = s["step"]
    assert f"diverged at step {step} (adam): loss not finite (poisson nan" in s["reason"]
    assert "diverged" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert kept and s["checkpoint"] == f"checkpoints/{kept[-1]}" and f"checkpoint: {s['checkpoint']}" in s["reason"]
    assert int(kept[-1][5:15]) < step  # nothing written at or after the bad step
    with np.load(out / s["checkpoint"]) as good:
        assert all(np.isfinite(good[k]).all() for k in good.files if k.startswith(("param", "adam")))
    records = metrics(out)
    assert records[-1]["step"] == step and all(np.isfinite(r["loss"]) for r in records[:-1])


@pytest.mark.slow
def test_a_full_disk_ends_the_run_in_one_line_with_nothing_partial(tmp_path):
    with small_disk(tmp_path / "disk", "8m") as mount:
        out = mount / "run"
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
                *ARGS,
                "--set",
                "training.log_every=10",
                "--set",
                "training.adam.steps=100000",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_for(lambda: logged_past(out, 250), "logged past step 250")
            with open(mount / "filler", "wb") as f:  # the disk fills up mid-run
                try:
                    f.write(b"x" * (16 << 20))
                except OSError:
                    pass
            output, _ = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode == 1, output
        assert "No space left on device" in output and "Traceback" not in output
        lines = (out / "metrics.jsonl").read_text().split("\n")
        assert lines[-1] == "" and all(json.loads(line) for line in lines[:-1])  # whole lines only
        assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".step-")]
        assert (out / "checkpoints").is_dir() and list((out / "checkpoints").iterdir())  # the last good state


@pytest.mark.slow
def test_resume_refuses_what_it_cannot_continue(tmp_path):
    missing = pinnrun("train", "--resume", tmp_path / "nothing")
    assert missing.returncode == 2 and "not a pinnrun run folder" in missing.stderr
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text((PROBLEMS / "poisson1d.yaml").read_text())
    (run / "run.json").write_text(json.dumps({"ranks": 2}))
    (run / "summary.json").write_text(json.dumps({"status": "failed", "reason": "x"}))
    none = pinnrun("train", "--resume", run)
    assert none.returncode == 2 and "no checkpoint to continue from" in none.stderr
    both = pinnrun("train", PROBLEMS / "poisson1d.yaml", "--resume", run)
    assert both.returncode == 2 and "not both" in both.stderr
    sets = pinnrun("train", "--resume", run, "--set", "training.adam.steps=5")
    assert sets.returncode == 2 and "--set" in sets.stderr
    (run / "summary.json").write_text(json.dumps({"status": "finished"}))
    finished = pinnrun("train", "--resume", run)
    assert finished.returncode == 2 and "the run finished; there is nothing to continue" in finished.stderr
    for proc in (missing, none, both, sets, finished):
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_resume_refuses_a_weak_adaptive_run_on_other_ranks(tmp_path):
    """RAD/RAR under weak scaling hold a choice of the global points, which change with the ranks."""
    from pinnrun.results.checkpoints import write_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    text = (PROBLEMS / "poisson1d.yaml").read_text()
    assert "\nsampling:\n" in text
    (run / "spec.yaml").write_text(text.replace("\nsampling:\n", "\nsampling:\n  adapt: {method: rad, every: 100}\n"))
    (run / "run.json").write_text(json.dumps({"ranks": 2}))
    (run / "summary.json").write_text(json.dumps({"status": "failed", "reason": "x"}))
    write_checkpoint(run, 100, {"param/0": np.zeros(1)}, {"step": 100}, keep=3)
    other = pinnrun("train", "--resume", run, "--np", "1", "--dry-run")
    assert other.returncode == 2 and "resume it on 2 rank(s)" in other.stderr, other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
    same = pinnrun("train", "--resume", run, "--dry-run")
    assert same.returncode == 0, same.stderr
