"""docs/api.md's examples run as written: its `pinnrun` commands, then its Python blocks, in a
folder where runs/burgers is a real run of problems/burgers_soft.yaml (small) and problems/ is
the repository's. The pinnrun.api blocks run without TF_CPP_MIN_LOG_LEVEL: TensorFlow must say
nothing on stderr."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from helpers import PROBLEMS, ROOT
from test_cli_errors import pinnrun
from test_predict import BURGERS_SMALL

DOC = ROOT / "docs" / "api.md"
_BLOCK = re.compile(r"^```(bash|python)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def blocks(kind: str) -> list[str]:
    return [body for k, body in _BLOCK.findall(DOC.read_text()) if k == kind]


@pytest.mark.slow
def test_api_doc_examples_run_as_written(tmp_path):
    (tmp_path / "problems").symlink_to(PROBLEMS)
    proc = pinnrun(
        "train",
        "problems/burgers_soft.yaml",
        "--np",
        "1",
        "--out",
        "runs/burgers",
        *[a for s in BURGERS_SMALL for a in ("--set", s)],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    commands = [line for body in blocks("bash") for line in body.splitlines() if line.strip()]
    assert len(commands) >= 5
    for line in commands:
        args = shlex.split(line)
        assert args[0] == "pinnrun", line
        done = pinnrun(*args[1:], cwd=tmp_path)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
    code = blocks("python")
    served = [b for b in code if "tf.saved_model.load" in b]
    api = [b for b in code if b not in served]
    assert served and len(api) >= 3
    quiet = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    for script, env in (("\n".join(served), quiet | {"TF_CPP_MIN_LOG_LEVEL": "2"}), ("\n".join(api), quiet)):
        run = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stderr == "", run.stderr  # no TensorFlow start-up or retracing messages
    assert "(201, 101)" in run.stdout and "L2 relative error" in run.stdout
    assert "problems/poisson1d.yaml: --set training.adam.steps:" in run.stdout
