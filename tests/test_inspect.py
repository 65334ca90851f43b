"""`pinnrun inspect` on real run folders made by short trainings through the real CLI:
finished (1 and 2 ranks, 1D and 1D+time), interrupted by Ctrl-C, failed, still
"running", a scaling study, and folders that are not runs.

The trainings start together (module fixture) so that their start-up times overlap;
the scaling study (two trainings one after the other) is the longest, so the others
run at a lower priority.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from helpers import PROBLEMS, ROOT, load, spec_dict
from permissions import permissions_apply
from pinnrun.numbers import seconds

pytest.importorskip("horovod")  # not horovod.tensorflow: importing TensorFlow here costs seconds

HEAT = [
    "network.hidden=[16,16]",
    "sampling.points.heat=256",
    "sampling.points.initial=32",
    "sampling.points.ends=32",
    "training.adam.steps=40",
    "training.lbfgs.steps=10",
    "training.log_every=5",
]

SMALL_BURGERS = [
    "network.hidden=[16,16]",
    "sampling.points.burgers=512",
    "sampling.points.initial=64",
    "sampling.points.walls=64",
]


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "pinnrun.cli", *map(str, args)]


def sets(*pairs: str) -> list[str]:
    return [a for s in pairs for a in ("--set", s)]


def start(args: list[str], log: Path, nice: int = 0) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=(lambda: os.nice(nice)) if nice else None
        )


def failing_worker(base: Path) -> tuple[Path, list[str]]:
    """A run folder whose worker fails before training: its reference file has vanished."""
    from pinnrun.spec.loader import dump_spec

    data = spec_dict("poisson1d")
    x = np.linspace(-1, 1, 5)
    np.savez(base / "ref.npz", x=x, u=np.sin(np.pi * x))
    data["reference"] = {"file": str(base / "ref.npz")}
    (base / "ok.yaml").write_text(yaml.safe_dump(data))
    run = base / "failed"
    run.mkdir()
    (run / "spec.yaml").write_text(dump_spec(load(base / "ok.yaml").spec))
    (base / "ref.npz").unlink()
    return run, [sys.executable, "-m", "pinnrun.worker", str(run)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("inspect")
    made = {name: base / name for name in ("study", "heat", "interrupted")}
    failed, worker = failing_worker(base)
    procs = {
        "study": start(
            cli(
                "scale",
                PROBLEMS / "poisson1d.yaml",
                "--mode",
                "strong",
                "--sweep",
                "1,2",
                "--steps",
                "30",
                "--out",
                made["study"],
            ),
            base / "study.log",
        ),
        "heat": start(
            cli("train", PROBLEMS / "heat1d.yaml", "--np", 1, "--out", made["heat"], *sets(*HEAT)),
            base / "heat.log",
            nice=5,
        ),
        "interrupted": start(
            cli(
                "train",
                PROBLEMS / "burgers_soft.yaml",
                "--np",
                1,
                "--out",
                made["interrupted"],
                *sets(*SMALL_BURGERS, "training.adam.steps=100000", "training.log_every=5"),
            ),
            base / "interrupted.log",
            nice=5,
        ),
        "failed": start(worker, base / "failed.log", nice=5),
    }
    deadline, metrics = time.time() + 150, made["interrupted"] / "metrics.jsonl"
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        time.sleep(0.2)  # a few logged steps: enough for a loss curve
    procs["interrupted"].send_signal(signal.SIGINT)
    expected = {"study": 0, "heat": 0, "interrupted": 130, "failed": 1}
    for name, proc in procs.items():
        code = proc.wait(timeout=300)
        assert code == expected[name], (name, (base / f"{name}.log").read_text())
    made["failed"] = failed
    made["ranks1"], made["ranks2"] = made["study"] / "ranks-1", made["study"] / "ranks-2"
    made["base"] = base
    return made


def inspect(*args, columns: int = 200):
    """In-process through the real click command (fast: no new interpreter per call)."""
    from pinnrun.cli import main

    return CliRunner(env={"COLUMNS": str(columns)}).invoke(main, ["inspect", *map(str, args)])


def inspect_json(*args) -> dict:
    result = inspect(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # the whole of stdout is one JSON object


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


@pytest.mark.slow
def test_a_finished_run_shows_its_summary_and_a_loss_curve(runs):
    s, result = summary(runs["heat"]), inspect(runs["heat"])
    assert result.exit_code == 0, result.output
    out, command = result.stdout, json.loads((runs["heat"] / "run.json").read_text())["command"]
    for text in [
        "heat1d",
        "finished",
        command,
        "weak",
        "heat 256, initial 32, ends 32",
        f"{s['l2_relative_error']:.3e}",
        f"{s['final_loss']:.3e}",
        f"{s['final_losses']['heat']:.3e}",
        f"wall {seconds(s['wall_seconds'])} s",
        f"{s['seconds_per_step'] * 1e3:.2f} ms/step",
        "tensorflow 2.18.1",
        "horovod 0.28.1",
        "adam from step 1",
        "lbfgs from step 41",
    ]:
        assert text in out, text
    adam, lbfgs = s["phases"]
    assert f"adam {adam['steps']}" in out and f"lbfgs {lbfgs['steps']}" in out
    assert "█" in out and "Traceback" not in out


@pytest.mark.slow
def test_two_ranks_and_fields_added_by_newer_versions_are_shown(runs):
    s, out = summary(runs["ranks2"]), inspect(runs["ranks2"]).stdout
    run = json.loads((runs["ranks2"] / "run.json").read_text())
    assert f"2 ({run['launcher']}, {run['controller']})" in out and "strong" in out
    assert re.search(r"points per rank +poisson 128, left 1, right 1  \(total 130\)", out)
    assert re.search(r"points global +poisson 256, left 1, right 1  \(total 258\)", out)
    assert "rank 1: cpu" in out and "bit-identical" in out
    # test_loss came after the first run folders (inspect does not need it), and the worker writes it now
    assert re.search(r"test loss +" + re.escape(f"{s['test_loss']:.3e}"), out)


@pytest.mark.slow
def test_json_is_the_same_content_for_scripts(runs):
    s, d = summary(runs["heat"]), inspect_json(runs["heat"])
    assert d["status"] == "finished" and d["reason"] is None and d["problem"] == "heat1d"
    assert d["l2_relative_error"] == s["l2_relative_error"] and d["final_losses"] == s["final_losses"]
    assert d["points"]["global"] == s["points"]["global"] and d["ranks"] == 1
    assert d["steps"]["done"] == {p["name"]: p["steps"] for p in s["phases"]}
    metrics = (runs["heat"] / "metrics.jsonl").read_text().splitlines()
    assert len(d["loss_curve"]) == len(metrics) and d["loss_curve"][0][:2] == [1, "adam"]
    assert d["versions"]["horovod"] == "0.28.1"


def png(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.is_file() and path.stat().st_size > 10_000, path
    image = matplotlib.image.imread(path)
    assert image.std() > 0.05  # not a blank canvas
    return image


@pytest.mark.slow
def test_plot_writes_loss_and_solution_pngs(runs):
    for run, heat_map in [(runs["heat"], True), (runs["ranks1"], False)]:
        d = inspect_json(run, "--plot")
        assert sorted(Path(p).name for p in d["plots"]) == ["loss.png", "solution_u.png"]
        assert png(run / "loss.png").shape[:2] >= (400, 700)
        height, width = png(run / "solution_u.png").shape[:2]
        # heat maps: prediction, reference and error side by side; 1D: lines over an error panel
        assert width > 3 * height if heat_map else height > 500


@pytest.mark.slow
def test_an_interrupted_run_shows_what_it_got_to(runs):
    run = runs["interrupted"]
    result = inspect(run, "--plot")
    assert result.exit_code == 0 and "Traceback" not in result.output
    out = result.stdout
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert "interrupted" in out and summary(run)["reason"] in out
    assert re.search(r"last logged loss +" + re.escape(f"{last['loss']:.3e} at step {last['step']} (adam)"), out)
    assert f"adam {last['step']} of 100000" in out
    assert (run / "loss.png").is_file() and not (run / "solution_u.png").exists()
    assert "no predictions.npz" in out


@pytest.mark.slow
def test_a_failed_run_says_why(runs):
    result = inspect(runs["failed"])
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "failed" in result.stdout and "reference file: cannot read" in result.stdout
    assert inspect_json(runs["failed"])["status"] == "failed"


@pytest.mark.slow
def test_a_run_without_result_is_running_or_silent(runs, tmp_path):
    run = tmp_path / "running"
    shutil.copytree(runs["heat"], run)
    (run / "summary.json").unlink()
    events = (run / "events.jsonl").read_text().splitlines()
    (run / "events.jsonl").write_text("\n".join(events[:-1]) + "\n" + events[-1][:20])  # + a half-written line
    assert inspect_json(run)["status"] == "dead"  # its launcher, on this host, has exited (tests/test_faults.py)
    (run / "launcher.json").unlink()  # a launcher on another host, or a run from before launcher.json
    d = inspect_json(run)
    assert d["status"] == "running" and "last write" in d["reason"] and "killed" not in d["reason"]
    assert d["steps"]["from_log"] and d["notes"] == []
    hours_ago = time.time() - 7200
    for name in os.listdir(run):
        os.utime(run / name, (hours_ago, hours_ago))
    d = inspect_json(run)
    assert d["status"] == "running" and "2.0 h ago" in d["reason"] and "killed without a word" in d["reason"]


def test_broken_files_are_noted_not_raised(tmp_path):
    run = tmp_path / "broken"
    run.mkdir()
    (run / "run.json").write_text('{"command": "x", "ranks": 2')
    (run / "metrics.jsonl").write_text('{"phase": "adam", "step": 1, "loss": 1.0}\nnot json\n{"step": 3')
    (run / "spec.yaml").write_text(":::")
    result = inspect(run, "--plot")
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "run.json: unreadable" in result.stdout and "1 unreadable line" in result.stdout


@pytest.mark.slow
def test_parent_folder_compares_every_run_sorted(runs):
    base = runs["base"]
    result = inspect(base, "--sort", "error")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith(" ") and line.strip()}
    for name in ["heat", "interrupted", "failed", "study/ranks-1", "study/ranks-2"]:
        row = rows[name]
        s = summary(runs["base"] / name)
        assert s["status"] in row
        if s["status"] == "finished":
            assert f"{s['l2_relative_error']:.2e}" in row and seconds(s["wall_seconds"]) in row
    by_error = inspect_json(base, "--sort", "error")["runs"]
    errors = [r["l2_relative_error"] for r in by_error]
    known = [e for e in errors if e is not None]
    assert known == sorted(known) and errors[: len(known)] == known  # runs without an error last
    by_time = [r["wall_seconds"] for r in inspect_json(base, "--sort", "time")["runs"]]
    assert by_time == sorted(by_time)


@pytest.mark.slow
def test_a_scaling_study_shows_its_tables_plot_and_runs(runs):
    study = runs["study"]
    result = inspect(study)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "strong scaling of poisson1d" in out and f"plot: {study / 'scaling.png'}" in out
    assert "2 run(s) under" in out and "ranks-1" in out and "ranks-2" in out
    d = inspect_json(study)
    assert d["kind"] == "study" and d["study"]["mode"] == "strong"
    assert [r["ranks"] for r in d["runs"]] == [1, 2]


@pytest.mark.slow
def test_a_folder_that_is_not_a_run_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("hello")
    for path, says in [
        (tmp_path / "empty", "not a run folder (no run.json, summary.json, events.jsonl)"),
        (tmp_path / "notes.txt", "not a run folder"),
        (tmp_path / "missing", "no such file"),
    ]:
        proc = subprocess.run(cli("inspect", path), capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith(f"error: {path}: {says}") and len(proc.stderr.strip().splitlines()) == 1


def finished_run(folder: Path, **fields) -> Path:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(
        json.dumps(
            {
                "status": "finished",
                "problem": "p",
                "final_loss": 1e-3,
                "l2_relative_error": 1e-2,
                "wall_seconds": 3.0,
                **fields,
            }
        )
    )
    return folder


@pytest.mark.slow
def test_records_of_the_wrong_shape_are_skipped_with_a_note(tmp_path):
    run = tmp_path / "odd"
    run.mkdir()
    (run / "summary.json").write_text(
        json.dumps(
            {
                "status": {"a": 1},
                "problem": 5,
                "ranks": {},
                "phases": "x",
                "points": [1],
                "wall_seconds": "abc",
                "final_losses": [1],
                "steps": "x",
                "ranks_in_sync": "yes",
                "reason": ["r"],
            }
        )
    )
    good = [
        {"step": 3, "phase": "adam", "loss": 0.4, "losses": {"pde": 0.4}},
        {"step": 5, "phase": "lbfgs", "loss": 0.2, "losses": {"pde": 0.2}},
    ]
    bad = [
        {"step": "x", "phase": "adam", "loss": 1},
        {"step": 1, "phase": "adam", "loss": "abc"},
        [1, 2],
        {"phase": "adam"},
        {"step": 2, "phase": "adam", "loss": 0.5, "losses": [1]},
        {"step": True, "phase": "a"},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bad[:3] + good[:1] + bad[3:] + good[1:]))
    (run / "events.jsonl").write_text('{"event": 5}\n{"event": "start", "phases": [1], "points": "x", "ranks": "2"}\n')
    for args in [(), ("--plot",)]:
        result = inspect(run, *args)
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
        assert "metrics.jsonl: 6 record(s) of the wrong shape skipped" in result.stdout
        assert "events.jsonl: 1 record(s) of the wrong shape skipped" in result.stdout
    d = inspect_json(run)
    assert d["loss_curve"] == [[3, "adam", 0.4], [5, "lbfgs", 0.2]] and d["steps"]["total"] == 5
    assert d["ranks"] is None and d["phases"] is None and d["wall_seconds"] is None and d["points"] is None
    assert (run / "loss.png").is_file()


def test_a_parent_shows_each_broken_run_as_broken_and_the_rest(tmp_path):
    runs = tmp_path / "runs"
    finished_run(runs / "ok")
    finished_run(runs / "[/bold]markup")
    reasons = {
        "bad-spec": ("spec.yaml", "name: [unclosed\n", "spec.yaml: unreadable ("),
        "bad-summary": ("summary.json", '{"status":', "summary.json: unreadable ("),
        "list-run": ("run.json", "[1, 2]", "run.json: not a JSON object"),
        "binary-metrics": ("metrics.jsonl", b"\x00\xff\x13" * 1000, "metrics.jsonl: unreadable (a binary file"),
        "garbage-events": ("events.jsonl", "not json\nnor this\n", "events.jsonl: unreadable (no line is a JSON"),
        "deep-summary": ("summary.json", "[" * 100_000, "summary.json: unreadable ("),
    }
    for name, (file, content, _) in reasons.items():
        folder = finished_run(runs / name) if file != "summary.json" else runs / name
        folder.mkdir(exist_ok=True)
        getattr(folder / file, "write_bytes" if isinstance(content, bytes) else "write_text")(content)
    if permissions_apply():  # root reads a folder without permission anyway
        finished_run(runs / "no-permission").chmod(0)
        reasons["no-permission"] = (None, None, "folder unreadable (Permission denied)")
    try:
        result = inspect(runs)
        d = inspect_json(runs)
    finally:
        if (runs / "no-permission").exists():
            (runs / "no-permission").chmod(0o755)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith(" ") and line.strip()}
    assert "finished" in rows["ok"] and "1.00e-02" in rows["ok"] and "finished" in rows["[/bold]markup"]
    by_name = {Path(r["path"]).name: r for r in d["runs"]}
    for name, (_, _, says) in reasons.items():
        assert "broken" in rows[name], name
        assert by_name[name]["status"] == "broken" and by_name[name]["reason"].startswith(says), by_name[name]
        assert f"note: {name}: {says}" in " ".join(result.stdout.split())
        assert "\n" not in by_name[name]["reason"] and len(by_name[name]["reason"]) < 300


def test_non_finite_values_old_and_strict_are_shown(tmp_path):
    old = finished_run(tmp_path / "old")
    (old / "summary.json").write_text('{"status": "finished", "final_loss": NaN, "final_losses": {"pde": Infinity}}')
    new = tmp_path / "new"
    new.mkdir()
    from pinnrun.results.recorder import write_json

    write_json(new / "summary.json", {"status": "finished", "final_loss": math.nan, "final_losses": {"pde": math.inf}})
    for run in (old, new):
        result = inspect(run)
        assert result.exit_code == 0 and re.search(r"final loss +nan +\(pde inf\)", result.stdout), result.stdout
        d = inspect_json(run)  # --json is strict JSON too: null where the number is not finite
        assert d["final_loss"] is None and d["final_losses"] == {"pde": None}
    assert "non finite" in inspect(new).stdout


def test_large_or_special_files_are_read_within_bounds(tmp_path, monkeypatch):
    import pinnrun.inspect.read as read

    run = finished_run(tmp_path / "long")
    records = [{"step": s, "phase": "adam", "loss": 1.0 / s} for s in range(1, 201)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    monkeypatch.setattr(read, "MAX_READ_BYTES", 2000)  # the file is about 9 kB
    d = inspect_json(run)
    assert d["status"] == "finished" and d["loss_curve"][-1] == [200, "adam", 1.0 / 200]
    assert 10 < len(d["loss_curve"]) < 100 and any("only its last 0 MiB read" in n for n in d["notes"])
    (run / "summary.json").write_text(json.dumps({"status": "finished", "pad": "x" * 3000}))
    assert inspect_json(run)["status"] == "broken"  # a JSON file over the cap is not read at all
    fifo = finished_run(tmp_path / "fifo")
    os.mkfifo(fifo / "metrics.jsonl")  # reading it would wait for a writer forever
    os.symlink("/dev/zero", fifo / "events.jsonl")  # and this would never end
    assert inspect_json(fifo)["status"] == "finished"


@pytest.mark.slow
def test_several_runs_are_compared_and_their_curves_overlaid(runs, tmp_path):
    heat, ranks1, ranks2 = runs["heat"], runs["study"] / "ranks-1", runs["study"] / "ranks-2"
    out = tmp_path / "overlay.png"
    result = inspect(heat, ranks1, ranks2, "--plot", "--out", out, "--sort", "error")
    assert result.exit_code == 0, result.output
    assert "3 run(s) under" in result.stdout and f"wrote {out}" in result.stdout
    image = png(out)
    assert image.shape[1] > 2 * image.shape[0]  # loss and error side by side
    d = inspect_json(heat, ranks2)
    assert d["kind"] == "runs" and [Path(r["path"]).name for r in d["runs"]] == ["heat", "ranks-2"]
    again = inspect(heat, ranks1, "--plot", "--out", out)
    assert again.exit_code == 2 and "exists; choose another file" in again.stderr
    assert inspect(heat, tmp_path, "--plot").exit_code == 2
    assert "--out is for the overlay plot" in inspect(heat, "--out", out).stderr
