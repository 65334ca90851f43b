"""Run folders are claimed atomically, never reused, and every failure to create one is a
PinnrunError naming --out (the CLI's one line, exit 2)."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from pathlib import Path

import pytest

from permissions import permissions_apply
from pinnrun.errors import PinnrunError
from pinnrun.results.recorder import Recorder, write_json
from pinnrun.results.run_folder import check_out, new_run_dir
from pinnrun.results.strict_json import strict_json

CLAIM = ".pinnrun-run"  # the claim file the README names


def _claim_once(args) -> tuple[str, int]:
    out, barrier = args
    barrier.wait()  # every process tries at the same moment
    try:
        return str(new_run_dir(out, "p")), os.getpid()
    except PinnrunError as err:
        return f"error: {err}", os.getpid()


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["new folder", "existing empty folder"])
def test_of_jobs_racing_for_one_out_exactly_one_wins(tmp_path: Path, existing: bool) -> None:
    ctx = multiprocessing.get_context("fork")
    jobs = 6
    for attempt in range(5):
        out = tmp_path / f"out{attempt}"
        if existing:
            out.mkdir()
        with ctx.Manager() as manager, ctx.Pool(jobs) as pool:
            barrier = manager.Barrier(jobs)
            results = pool.map(_claim_once, [(str(out), barrier)] * jobs)
        winners = [(r, pid) for r, pid in results if not r.startswith("error:")]
        assert [r for r, _ in winners] == [str(out.resolve())], results
        losers = [r for r, _ in results if r.startswith("error:")]
        assert all(r == f"error: --out {out}: already in use by another run" for r in losers), losers
        assert [p.name for p in out.iterdir()] == [CLAIM]
        assert json.loads((out / CLAIM).read_text())["pid"] == winners[0][1]  # the claim names its process


def test_the_default_folder_is_claimed_too(tmp_path: Path) -> None:
    first = new_run_dir(None, "p", root=str(tmp_path / "runs"))
    second = new_run_dir(None, "p", root=str(tmp_path / "runs"))
    assert first != second and (first / CLAIM).is_file() and (second / CLAIM).is_file()


def test_a_claimed_folder_is_never_taken_again(tmp_path: Path) -> None:
    out = tmp_path / "out"
    new_run_dir(str(out), "p")
    with pytest.raises(PinnrunError, match=r"already in use by another run$"):
        new_run_dir(str(out), "p")
    (out / "spec.yaml").write_text("kept")
    for make in (new_run_dir, lambda o, _: check_out(o)):
        with pytest.raises(PinnrunError, match="already exists and is not empty"):
            make(str(out), "p")
    assert (out / "spec.yaml").read_text() == "kept"


@pytest.mark.parametrize("out", ["", " ", "\t"])
def test_an_empty_out_is_refused(tmp_path: Path, out: str) -> None:
    for make in (new_run_dir, lambda o, _: check_out(o)):
        with pytest.raises(PinnrunError, match=r"^--out: empty path$"):
            make(out, "p")


def test_out_that_cannot_be_created_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    cases = {
        str(tmp_path / "file" / "run"): "Not a directory",
        "/proc/1/pinnrun-run": None,
        str(tmp_path / ("n" * 5000)): "File name too long",
    }
    for out, reason in cases.items():
        with pytest.raises(PinnrunError, match=r"cannot create: ") as err:
            new_run_dir(out, "p")
        assert str(err.value).startswith(f"--out {out}: cannot create: ")
        assert reason is None or reason in str(err.value)
    for hidden in ("nul\0byte", "new\nline", "esc\x1b[31m"):  # refused before the file system sees them
        with pytest.raises(PinnrunError, match=r": a folder name of printable characters only$"):
            new_run_dir(str(tmp_path / hidden), "p")
        assert not (tmp_path / hidden).exists()
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.skipif(not permissions_apply(), reason="this user (root) writes into a 0o555 folder anyway")
def test_a_read_only_parent_is_one_error(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir(mode=0o555)
    try:
        with pytest.raises(PinnrunError, match="cannot create: Permission denied"):
            new_run_dir(str(parent / "run"), "p")
    finally:
        parent.chmod(0o755)


def strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_json_files_are_strict_and_keep_what_was_not_finite(tmp_path: Path) -> None:
    import numpy as np

    write_json(
        tmp_path / "summary.json",
        {
            "final_loss": math.nan,
            "final_losses": {"pde": np.float32("inf")},
            "curve": [1.0, -math.inf],
            "steps": np.int64(3),
        },
    )
    summary = strict_loads((tmp_path / "summary.json").read_text())
    assert summary == {
        "final_loss": None,
        "final_losses": {"pde": None},
        "curve": [1.0, None],
        "steps": 3,
        "non_finite": {"final_loss": "nan", "final_losses.pde": "inf", "curve[1]": "-inf"},
    }
    Recorder(tmp_path, enabled=True).event("progress", step=1, loss=math.nan)
    event = strict_loads((tmp_path / "events.jsonl").read_text())
    assert event["loss"] is None and event["non_finite"] == {"loss": "nan"}
    assert strict_json({"loss": 1.5}) == '{"loss": 1.5}'  # nothing added when all is finite
