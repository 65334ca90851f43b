"""Elastic training for real: 2 ranks, `kill -9` of one, training goes on with 1 from the last
commit and grows back to 2 when Horovod lets the host back in (its failure cooldown, 5-10 s);
the run finishes with every step logged once. Plus what `--elastic` refuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import PROBLEMS
from test_distributed import alive, injected, pinnrun

SETS = [
    "network.hidden=[16,16]",
    "network.dtype=float64",
    "training.adam.steps=5000",
    "training.lbfgs.steps=200",
    "training.log_every=100",
    "scaling=strong",
    "reference=null",
]
WAIT = 240  # seconds for the whole run on 2 busy cores (measured ~50 s alone)


def started(tmp_path, *flags: str) -> tuple:
    """An elastic 2-rank training under tmp_path/run, once it logged step 500: (run folder, marks, launcher)."""
    out, marks = tmp_path / "run", tmp_path / "marks"
    cmd = [
        sys.executable,
        "-m",
        "pinnrun.cli",
        "train",
        str(PROBLEMS / "burgers_soft.yaml"),
        "--elastic",
        "--out",
        str(out),
        *[a for s in SETS for a in ("--set", s)],
        *flags,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ | injected(marks)
    )
    deadline = time.monotonic() + WAIT
    while not (out / "metrics.jsonl").exists() or '"step": 500' not in (out / "metrics.jsonl").read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"training never reached step 500: {proc.communicate()[0]}")
        time.sleep(0.2)
    return out, marks, proc


@pytest.mark.slow
def test_a_lost_rank_does_not_end_the_run_and_it_grows_back(tmp_path):
    out, marks, proc = started(tmp_path, "--min-np", "1", "--max-np", "2")
    try:
        victim = json.loads((marks / "pid-1").read_text())
        os.kill(victim, signal.SIGKILL)
        output, _ = proc.communicate(timeout=WAIT)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    resized = [(e["ranks"], e["step"]) for e in events if e["event"] == "resized"]
    assert [ranks for ranks, _ in resized] == [1, 2], resized  # shrank to 1, grew back to 2
    assert resized[0][1] >= 500 and resized[0][1] % 100 == 0  # from the last commit: a logged chunk
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["ranks"] == 2
    assert summary["elastic"] == {"ranks_at_each_start": [2, 1, 2]}
    assert all(len(set(d)) == 1 for d in summary["param_digests"].values())  # in sync after the regrowth
    assert summary["points"]["global"]["burgers"] == 8192  # strong: the same global points throughout
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 5200  # every step once, rolled-back ones redone
    ranks_logged = [len(json.loads(line)["rank_losses"]) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert 1 in ranks_logged and ranks_logged[-1] == 2
    assert not alive(victim)
    run = json.loads((out / "run.json").read_text())
    assert run["elastic"] == {"min_np": 1, "max_np": 2, "timeout": 120} and "--host-discovery-script" in run["argv"]
    assert (out / "elastic" / "hosts").read_text() == "localhost:1\n127.0.0.1:1\n"


@pytest.mark.slow
def test_elastic_refuses_what_it_cannot_run(tmp_path):
    spec = PROBLEMS / "burgers_soft.yaml"
    cases = {
        ("--elastic", "--max-np", "3"): "on this host alone runs at most 2 ranks",
        ("--elastic", "--np", "2"): "--np, --gpus and --launcher do not apply",
        ("--elastic", "--min-np", "3", "--max-np", "2"): "--min-np 3 is more than --max-np 2",
        ("--max-np", "2"): "--min-np, --max-np and --elastic-timeout are for --elastic",
        (
            "--elastic",
            "--set",
            "sampling.adapt.method=resample",
            "--set",
            "sampling.adapt.every=100",
        ): "--elastic does not support sampling.adapt yet",
    }
    for flags, message in cases.items():
        proc = pinnrun("train", spec, *flags, "--dry-run")
        assert proc.returncode == 2 and message in proc.stderr, (flags, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
    odd = tmp_path / "a b"
    proc = pinnrun("train", spec, "--elastic", "--dry-run", "--out", odd / "run")
    assert proc.returncode == 2 and "through a shell" in proc.stderr


@pytest.mark.slow
def test_the_elastic_command_and_discovery_script(tmp_path):
    proc = pinnrun(
        "train",
        PROBLEMS / "burgers_soft.yaml",
        "--elastic",
        "--hosts",
        "h1:2,h2:2",
        "--min-np",
        "2",
        "--dry-run",
        "--out",
        tmp_path / "run",
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        f"horovodrun -np 4 --min-np 2 --max-np 4 --host-discovery-script {tmp_path}/run/elastic/"
        "discover-hosts.sh --blacklist-cooldown-range 5 300 --elastic-timeout 120 --gloo"
    ) in proc.stdout
    assert "--network-interface" not in proc.stdout  # remote hosts: Horovod picks the common interface
    assert proc.stdout.rstrip().endswith(f"-m pinnrun.worker {tmp_path}/run --elastic")


@pytest.mark.slow
def test_fewer_ranks_than_min_np_end_the_run_in_bounded_time_with_its_reason(tmp_path):
    out, marks, proc = started(
        tmp_path, "--min-np", "2", "--elastic-timeout", "10", "--set", "training.checkpoint.every_steps=200"
    )
    try:
        (out / "elastic" / "hosts").write_text("localhost:1\n")  # the other host is gone for good
        killed = time.monotonic()
        os.kill(json.loads((marks / "pid-1").read_text()), signal.SIGKILL)
        output, _ = proc.communicate(timeout=WAIT)
        took = time.monotonic() - killed
    finally:
        proc.kill()
    print(f"elastic with too few ranks: the launcher exited {took:.1f} s after the kill (--elastic-timeout 10)")
    assert proc.returncode == 1 and took < 60, output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["reason"].startswith("elastic: fewer than 2 ranks (--min-np) for 10 s (--elastic-timeout)")
    kept = int(summary["checkpoint"].removeprefix("checkpoints/step-").removesuffix(".npz"))
    assert kept >= 400 and kept % 200 == 0  # where --resume continues from
    assert "Traceback" not in output.split("from the worker log:")[0]


@pytest.mark.slow
def test_an_elastic_run_stops_on_sigterm_and_resumes_elastic(tmp_path):
    out, _, proc = started(tmp_path)
    try:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=WAIT)
    finally:
        proc.kill()
    assert proc.returncode == 143, output
    first = json.loads((out / "summary.json").read_text())
    assert first["status"] == "interrupted" and first["signal"] == "SIGTERM" and first["checkpoint"]
    resumed = pinnrun("train", "--resume", out, "--elastic", timeout=WAIT)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["resumed_from"]["step"] == first["step"]
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 5200
    assert json.loads((out / "run.json").read_text())["elastic"]["max_np"] == 2
