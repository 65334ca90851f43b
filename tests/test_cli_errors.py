"""No traceback anywhere in the CLI: bad input is one line on stderr and exit 2, an
internal error one line and exit 1, whatever the input holds (a megabyte, a newline,
terminal escapes)."""

from __future__ import annotations

import re

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import PROBLEMS, ROOT
from pinnrun.errors import PinnrunError, one_line, printable

POISSON = PROBLEMS / "poisson1d.yaml"
# docs/reliability.md: a value is cut at 200 characters, the whole line at 1,000, each cut
# adding its own note "…(N characters cut)…"
TOKEN_CAP, CAP = 200 + 60, 1000 + 40


def pinnrun(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "pinnrun"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pinnrun.cli"]
    return subprocess.run(
        cmd + list(args), cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def one_error(proc: subprocess.CompletedProcess, starts: str = "error: ") -> str:
    """The single stderr line of a refused command (exit 2, no traceback, nothing on stdout but notes)."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(starts) and len(lines[0]) <= CAP, lines[0][:300]
    return lines[0]


def test_one_line_escapes_hidden_characters_and_caps_length() -> None:
    assert printable("a\nb\r\x1b[31m\u202e\u2028\udcff é") == "a\\nb\\r\\x1b[31m\\u202e\\u2028\\udcff é"
    line = one_line("--set name=" + "y" * 10**6 + ": too long")
    assert line.startswith("--set name=yyy") and line.endswith("y: too long") and "characters cut" in line
    assert len(line) <= TOKEN_CAP
    spaced = one_line("x " * 10**5 + "end")
    assert len(spaced) <= CAP and spaced.endswith("end")
    assert one_line("file.yaml:3: pde.u: unknown name 'v'") == "file.yaml:3: pde.u: unknown name 'v'"


@pytest.mark.slow
@pytest.mark.parametrize(
    "out, says",
    [
        ("", "error: --out: empty path"),
        ("   ", "error: --out: empty path"),
        ("afile/run", "error: --out afile/run: cannot create: Not a directory"),
        ("afile", "error: --out afile: already exists and is a file"),
        ("/proc/1/pinnrun-run", "error: --out /proc/1/pinnrun-run: cannot create: "),
        ("run\nx", "error: --out run\\nx: a folder name of printable characters only"),
    ],
)
def test_train_out_that_cannot_be_a_run_folder(tmp_path: Path, out: str, says: str) -> None:
    (tmp_path / "afile").write_text("kept")
    steps = ["--set", "training.adam.steps=1", "--set", "training.lbfgs=null"]
    line = one_error(pinnrun("train", str(POISSON), "--np", "1", "--out", out, *steps, cwd=tmp_path))
    assert line.startswith(says)
    if not out.startswith("/proc"):  # a dry run creates nothing, so /proc is only refused for real
        assert one_error(pinnrun("train", str(POISSON), "--out", out, "--dry-run", cwd=tmp_path)).startswith(says)
    assert (tmp_path / "afile").read_text() == "kept" and not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "out, says",
    [("", "error: --out: empty path"), ("afile/study", "error: --out afile/study: cannot create: Not a directory")],
)
def test_scale_out_that_cannot_be_a_study_folder(tmp_path: Path, out: str, says: str) -> None:
    (tmp_path / "afile").write_text("kept")
    line = one_error(pinnrun("scale", str(POISSON), "--sweep", "1", "--steps", "3", "--out", out, cwd=tmp_path))
    assert line.startswith(says)


@pytest.mark.slow
def test_a_huge_value_gives_a_capped_line(tmp_path: Path) -> None:
    huge = "n" * 120_000  # about the most one argument may hold (Linux: 128 KiB)
    spec = POISSON.read_text() + f"\nunknown_field: {'m' * 1_000_000}\n"  # a spec of just under 1 MiB
    (tmp_path / "big.yaml").write_text(spec[: 1024 * 1024 - 1])
    for args in [
        ("validate", f"{huge}.yaml"),
        ("inspect", huge),
        ("validate", "big.yaml"),
        ("validate", str(POISSON), "--set", f"network.activation={huge}"),
        ("validate", str(POISSON), "--set", f"{huge}=1"),
        ("train", str(POISSON), "--out", f"{huge}/run", "--dry-run"),
    ]:
        one_error(pinnrun(*args, cwd=tmp_path))


@pytest.mark.slow
def test_newlines_and_escapes_in_values_stay_on_one_line(tmp_path: Path) -> None:
    for args in [
        ("validate", "spec\nfile\x1b[2J.yaml"),
        ("inspect", "no\nsuch\rfolder"),
        ("validate", str(POISSON), "--set", "name\nx=1"),
        ("train", str(POISSON), "--out", "afile\n/x", "--dry-run"),
    ]:
        (tmp_path / "afile\n").write_text("x")
        line = one_error(pinnrun(*args, cwd=tmp_path))
        assert "\x1b" not in line and "\r" not in line


@pytest.mark.slow
def test_click_usage_errors_quote_values_printable_and_short(tmp_path: Path) -> None:
    for value in ["1\n2", "x" * 100_000]:
        proc = pinnrun("train", str(POISSON), "--np", value, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        error = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
        assert len(error) == 1 and len(error[0]) <= CAP, proc.stderr[:500]
    one = pinnrun("doctor", "--bogus", cwd=tmp_path)
    assert one.returncode == 2 and "Traceback" not in one.stderr and "No such option" in one.stderr


def test_every_command_goes_through_the_guard() -> None:
    """Each subcommand's body is `_guard(run)`: any exception becomes one line."""
    import inspect as source

    from pinnrun import cli

    for name, command in cli.main.commands.items():
        body = source.getsource(command.callback)
        assert "_guard(" in body, name


def guarded(fn, capsys, env: dict | None = None, monkeypatch=None) -> tuple[int, str]:
    from pinnrun.cli import _guard

    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exit_:
        _guard(fn)
    return exit_.value.code, capsys.readouterr().err


def raiser(err: BaseException):
    def fn():
        raise err

    return fn


def test_the_guard_turns_every_exception_into_one_line(capsys, monkeypatch) -> None:
    monkeypatch.delenv("PINNRUN_DEBUG", raising=False)
    cases = [
        (PinnrunError("bad\ninput"), 2, "error: bad\\ninput\n"),
        (PermissionError(13, "Permission denied", "/x/y"), 2, "error: /x/y: Permission denied\n"),
        (OSError(30, "Read-only file system", "/ro/run"), 2, "error: /ro/run: Read-only file system\n"),
        (KeyboardInterrupt(), 130, "interrupted\n"),
        (ValueError("odd"), 1, "internal error: ValueError: odd (set PINNRUN_DEBUG=1 for the traceback)\n"),
        (
            RecursionError("maximum recursion depth exceeded"),
            1,
            "internal error: RecursionError: maximum recursion depth exceeded (set PINNRUN_DEBUG=1 for the traceback)\n",
        ),
        (MemoryError(), 1, "internal error: MemoryError (set PINNRUN_DEBUG=1 for the traceback)\n"),
    ]
    for err, code, text in cases:
        assert guarded(raiser(err), capsys) == (code, text)
    code, text = guarded(raiser(ValueError("odd")), capsys, {"PINNRUN_DEBUG": "1"}, monkeypatch)
    assert code == 1 and "Traceback" in text and text.endswith("(set PINNRUN_DEBUG=1 for the traceback)\n")


def test_a_broken_run_folder_is_inspected_not_raised(tmp_path: Path) -> None:
    """End to end: inspect of a parent with a broken run shows the table, exit 0."""
    run = tmp_path / "runs" / "broken"
    run.mkdir(parents=True)
    (run / "summary.json").write_text('{"status": "finished", "final_loss": NaN, "steps": "x"}')
    (run / "metrics.jsonl").write_text('{"step": "x", "phase": "adam", "loss": 1}\n')
    (tmp_path / "runs" / "garbage").mkdir()
    (tmp_path / "runs" / "garbage" / "run.json").write_text("[1, 2]")
    proc = pinnrun("inspect", str(tmp_path / "runs"), cwd=ROOT)
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert "broken" in proc.stdout and "finished" in proc.stdout


@pytest.mark.slow
def test_every_shape_error_of_a_spec_in_file_order(tmp_path):
    """Unknown keys, wrong types, bounds and names are all reported in one pass, one line each,
    sorted by line (`--set`'s first); a name's pattern is said in words."""
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        (PROBLEMS / "poisson1d.yaml")
        .read_text()
        .replace("  activation: tanh\n", "  activation: relu6\n")
        .replace("outputs: [u]\n", "outputs: [u]\nsolver: fast\n")
        .replace("  space: [x]\n", "  space: [x_1]\n")
    )
    proc = pinnrun("validate", str(spec), "--set", "training.adam.steps=-1", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    fields = [re.match(rf"error: {re.escape(str(spec))}(?::\d+)?: (.*?): ", line).group(1) for line in lines]
    assert fields == ["--set training.adam.steps", "variables.space[0]", "solver", "network.activation"]
    assert lines[1] == (
        f"error: {spec}:6: variables.space[0]: a name is a letter, then letters or digits "
        "(no _: u_x would read as a derivative) (got 'x_1')"
    )
    assert lines[2].startswith(f"error: {spec}:8: solver: unknown key 'solver'")
