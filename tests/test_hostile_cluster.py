"""Hostile cluster specs: nothing from a cluster spec, the environment or the command line
reaches a shell unquoted.

Every field of a cluster spec gets every string of tests/hostile/cluster/strings.yaml. Host
names, slots, GPUs, launcher, controller, interface, ssh port and variable names refuse them
all, as one `error: FILE:LINE: FIELD: ...` line and exit 2; variable values take what is
printable and reach the ranks exactly, quoted in `--dry-run` and in real runs through
horovodrun and mpirun (where a marker file would appear if a shell ever ran them).
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from pinnrun.cli import main
from pinnrun.errors import printable as shown
from pinnrun.launch.cluster import Cluster, Host
from pinnrun.launch.command import build_command, plan_launch, printable, worker_command
from pinnrun.launch.runner import run_job

REPO = Path(__file__).resolve().parents[1]
POISSON = REPO / "problems" / "poisson1d.yaml"
PINNRUN = Path(sys.executable).parent / "pinnrun"
STRINGS = yaml.safe_load((Path(__file__).parent / "hostile" / "cluster" / "strings.yaml").read_text())
# Values a terminal would not show as themselves; every other value is taken, quoted.
REFUSED_VALUES = {"newline", "carriage return", "tab", "escape sequence", "nul", "bidi override", "zero width"}
TAKEN_VALUES = sorted(set(STRINGS) - REFUSED_VALUES)

TEMPLATE = """\
hosts:
  - name: {name}
    slots: {slots}
    gpus: {gpus}
launcher: {launcher}
controller: {controller}
network_interface: {network_interface}
ssh_port: {ssh_port}
env:
  {env_key}: {env_value}
"""
DEFAULTS = {
    "name": "localhost",
    "slots": 2,
    "gpus": 0,
    "launcher": "mpirun",
    "controller": "mpi",
    "network_interface": "lo",
    "ssh_port": 22,
    "env_key": "OK",
    "env_value": "1",
}
# template slot -> (line, field as the error names it; {key} is the variable's name)
FIELDS = {
    "name": (2, "hosts[0].name"),
    "slots": (3, "hosts[0].slots"),
    "gpus": (4, "hosts[0].gpus"),
    "launcher": (5, "launcher"),
    "controller": (6, "controller"),
    "network_interface": (7, "network_interface"),
    "ssh_port": (8, "ssh_port"),
    "env_key": (10, "env.{key}"),
    "env_value": (10, "env.{key}"),
}


def hostile(name: str, mark: Path) -> str:
    return STRINGS[name].replace("MARK", str(mark))


def cluster_file(tmp_path: Path, **fields) -> Path:
    """The template with `fields` in place; JSON strings are YAML double-quoted scalars."""
    values = {k: json.dumps(v) for k, v in (DEFAULTS | fields).items()}
    path = tmp_path / "cluster.yaml"
    path.write_text(TEMPLATE.format(**values))
    return path


def dry_run(cluster: Path):
    return CliRunner().invoke(main, ["train", str(POISSON), "--cluster", str(cluster), "--dry-run"])


def assert_one_located_line(stderr: str, cluster: Path, slot: str, key: str) -> None:
    line, field = FIELDS[slot]
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(shown(f"error: {cluster}:{line}: {field.format(key=key)}: ")), lines[0]


def command_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if "pinnrun.worker" in line]
    assert len(lines) == 1, stdout
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("slot", [s for s in FIELDS if s != "env_value"])
def test_every_hostile_string_is_refused_in_every_field_but_values(tmp_path: Path, slot: str) -> None:
    mark = tmp_path / "MARK"
    for name in STRINGS:
        text = hostile(name, mark)
        cluster = cluster_file(tmp_path, **{slot: text})
        result = dry_run(cluster)
        assert result.exit_code == 2, (name, result.output)
        assert result.stdout == "", (name, result.stdout)  # no command printed
        assert_one_located_line(result.stderr, cluster, slot, key=text if slot == "env_key" else "OK")
        assert not mark.exists(), name


@pytest.mark.parametrize("name", sorted(REFUSED_VALUES))
def test_values_a_terminal_would_not_show_are_refused(tmp_path: Path, name: str) -> None:
    cluster = cluster_file(tmp_path, env_value=hostile(name, tmp_path / "MARK"))
    result = dry_run(cluster)
    assert result.exit_code == 2, result.output
    assert_one_located_line(result.stderr, cluster, "env_value", key="OK")
    assert "control character U+" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["mpirun", "horovodrun"])
def test_printable_values_are_shown_quoted_and_split_back_exactly(tmp_path: Path, launcher: str) -> None:
    mark = tmp_path / "MARK"
    for name in TAKEN_VALUES:
        value = hostile(name, mark)
        result = dry_run(cluster_file(tmp_path, env_value=value, launcher=launcher))
        assert result.exit_code == 0, (name, result.output)
        words = shlex.split(command_line(result.stdout))
        assert words[:2] == ["HOROVOD_CYCLE_TIME=0.1", f"OK={value}"], name
        assert Path(words[2]).name == launcher
        assert not mark.exists(), name


def test_values_with_square_brackets_are_shown_exactly(tmp_path: Path) -> None:
    value = "a[b]c[/red]"
    result = dry_run(cluster_file(tmp_path, env_value=value))
    assert result.exit_code == 0, result.output
    assert shlex.split(command_line(result.stdout))[1] == f"OK={value}"


def test_printable_falls_back_to_env_for_names_a_shell_cannot_assign() -> None:
    env = {"GOOD": "a b", "K;touch x;Z": "$(y)"}
    line = printable(["cmd", "-x", "a;b"], env)
    assert line == "env 'GOOD=a b' 'K;touch x;Z=$(y)' cmd -x 'a;b'"
    assert shlex.split(line) == ["env", "GOOD=a b", "K;touch x;Z=$(y)", "cmd", "-x", "a;b"]


# --------------------------------------------------------------------------
# the command line: --hosts, --np, and what a real run would do
# --------------------------------------------------------------------------


def pinnrun(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.run([str(PINNRUN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def assert_refused(proc: subprocess.CompletedProcess, start: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), proc.stderr


@pytest.mark.parametrize("name", ["semicolon", "option", "command substitution", "space", "unicode", "empty"])
def test_hostile_hosts_flag_is_one_line(tmp_path: Path, name: str) -> None:
    mark = tmp_path / "MARK"
    result = CliRunner().invoke(main, ["train", str(POISSON), f"--hosts={hostile(name, mark)}:2", "--dry-run"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --hosts"), result.stderr
    assert not mark.exists()


@pytest.mark.slow
def test_the_old_exploit_key_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """`env: {"K;touch MARK;Z": "1"}` with horovodrun ran `touch MARK` on a real run."""
    mark = tmp_path / "MARK"
    cluster = cluster_file(tmp_path, launcher="horovodrun", controller="gloo", env_key=f"K;touch {mark};Z")
    out = tmp_path / "out"
    proc = pinnrun(
        "train",
        str(POISSON),
        "--cluster",
        str(cluster),
        "--out",
        str(out),
        "--set",
        "training.adam.steps=3",
        "--set",
        "training.lbfgs=null",
        cwd=tmp_path,
    )
    assert_refused(proc, f"error: {cluster}:10: env.K;touch {mark};Z: not a variable name")
    assert not mark.exists() and not out.exists() and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_ranks_this_host_cannot_hold_are_refused(tmp_path: Path) -> None:
    proc = pinnrun("train", str(POISSON), "--np", "100000", "--dry-run", cwd=tmp_path)
    assert_refused(proc, "error: 100000 ranks on this host: at most 4096 ranks run on one host")
    proc = pinnrun("train", str(POISSON), "--np", "4000", "--dry-run", cwd=tmp_path)
    assert_refused(proc, "error: 4000 rank(s) on this host need about ")
    assert "each rank 220.0 MiB for TensorFlow and Horovod (measured idle)" in proc.stderr


# --------------------------------------------------------------------------
# real launches: the value reaches the ranks exactly, no shell runs any of it
# --------------------------------------------------------------------------

SHOUTY = "$(touch {m}); `touch {m}` | touch {m} & 'x\"y ${{HOME}} * ~ \\ ünï"
RECORD = (
    "import os, sys, json; rank = os.environ.get('HOROVOD_RANK', os.environ.get('OMPI_COMM_WORLD_RANK', '0')); "
    "open(os.path.join(sys.argv[1], 'seen-' + rank), 'w').write(json.dumps(os.environ.get('V')))"
)


def seen_values(folder: Path) -> dict[str, str]:
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("seen-*"))}


LAUNCHERS = {
    "direct": (1, {}),
    "local": (2, {"controller": "gloo"}),
    "mpirun": (2, {"launcher": "mpirun"}),
    "horovodrun": (2, {"launcher": "horovodrun"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_each_launcher_hands_the_value_over_exactly(tmp_path: Path, monkeypatch, launcher: str) -> None:
    """Through pinnrun's own runner, with the worker replaced by a line that records what it got.
    A name the shell cannot export, inherited from the caller, is left out (horovodrun would run it)."""
    pytest.importorskip("horovod.tensorflow")
    if launcher == "mpirun" and not shutil.which("mpirun"):
        pytest.skip("no mpirun")
    mark = tmp_path / "MARK"
    value = SHOUTY.format(m=mark)
    monkeypatch.setenv(f"K;touch {mark};Z", "1")
    ranks, fields = LAUNCHERS[launcher]
    plan = plan_launch(
        cluster=Cluster(hosts=[Host(name="localhost", slots=ranks)], env={"V": value}, **fields), environ={}
    )
    assert plan.launcher == launcher
    monkeypatch.chdir(tmp_path)  # where the relative `touch MARK` below would land
    run_dir = tmp_path / "run $(touch MARK);`touch MARK`"  # the worker's argument, as --out could give it
    run_dir.mkdir()
    cmd = build_command(plan, run_dir)
    assert cmd[-len(worker_command(run_dir)) :] == worker_command(run_dir)
    cmd = cmd[: -len(worker_command(run_dir))] + [sys.executable, "-c", RECORD, str(run_dir)]
    status, _ = run_job(cmd, plan.env, run_dir, Console(file=io.StringIO()))
    assert status == 0, (run_dir / "worker.log").read_text()
    assert seen_values(run_dir) == {f"seen-{r}": value for r in range(ranks)}
    assert not mark.exists()


SITECUSTOMIZE = """\
import json, os
rank = os.environ.get("HOROVOD_RANK", os.environ.get("OMPI_COMM_WORLD_RANK"))
if rank is not None and os.environ.get("PINNRUN_TEST_SEEN"):
    with open(os.path.join(os.environ["PINNRUN_TEST_SEEN"], "seen-" + rank), "w") as f:
        json.dump(os.environ.get("V"), f)
"""


@pytest.mark.slow
@pytest.mark.parametrize("launcher,controller", [("horovodrun", "gloo"), ("mpirun", "mpi")])
def test_a_real_training_run_passes_a_hostile_value_literally(tmp_path: Path, launcher: str, controller: str) -> None:
    """`pinnrun train`, 2 ranks, 3 steps (~10 s); each worker's Python records the V it started
    with (a sitecustomize on the PYTHONPATH the cluster spec exports)."""
    pytest.importorskip("horovod.tensorflow")
    mark = tmp_path / "MARK"
    value = SHOUTY.format(m=mark)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(
        yaml.safe_dump(
            {
                "hosts": [{"name": "localhost", "slots": 2}],
                "launcher": launcher,
                "controller": controller,
                "env": {"V": value, "PYTHONPATH": str(hooks), "PINNRUN_TEST_SEEN": str(tmp_path)},
            }
        )
    )
    out = tmp_path / "out"
    proc = pinnrun(
        "train",
        str(POISSON),
        "--cluster",
        str(cluster),
        "--out",
        str(out),
        "--set",
        "training.adam.steps=3",
        "--set",
        "training.lbfgs=null",
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((out / "summary.json").read_text())["status"] == "finished"
    assert seen_values(tmp_path) == {"seen-0": value, "seen-1": value}
    assert not mark.exists()
    run = json.loads((out / "run.json").read_text())
    assert Path(run["argv"][0]).name == launcher
    words = shlex.split(run["command"])
    assert f"V={value}" in words and words[-len(run["argv"]) :] == run["argv"]
