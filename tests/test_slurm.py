"""`pinnrun sbatch` and training inside a SLURM allocation.

Fast: the batch script for a fixed input is byte-identical to tests/golden/sbatch_burgers_soft.sh
(placeholders below); bad input is one line and exit 2 with nothing written or submitted; the
submission path against a stand-in `sbatch` on PATH.

Slow, on the test cluster with SLURM (tests/cluster.py `slurm_cluster`: slurmctld on a, slurmd on
a, b, c): a job submitted from host a trains on a and b and finishes; a run inside `salloc` takes
the allocation's hosts; `scancel` stops every rank on every host and the run says interrupted;
`scancel --batch --signal=TERM` stops the ranks at a step with a final checkpoint. `--launcher srun`
inside an allocation gives the bits of the default launch (mpirun), and a rank killed under it ends
the job at once, named with its host, with nothing left on any host.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster import slurm_cluster  # noqa: F401  (the fixture)
from helpers import PROBLEMS, ROOT
from test_cluster import SMALL as CLUSTER_SMALL  # the tiny training of the 2-host tests, strong scaling

sys.path.insert(0, str(ROOT / "scripts"))
from testcluster_slurm import GPUS_PER_NODE, slurm_run  # noqa: E402

SPEC = PROBLEMS / "burgers_soft.yaml"
GOLDEN = ROOT / "tests" / "golden" / "sbatch_burgers_soft.sh"
# The golden script's placeholders, each replaced by the text the script has there:
#   @PINNRUN@  this venv's pinnrun, by absolute path (quoted as the script quotes it)
#   @REPO@     the repository root (the spec's folder is @REPO@/problems)
#   @OUT@      the run folder (a pytest tmp folder)
GOLDEN_ARGS = [
    "--nodes",
    "2",
    "--ntasks-per-node",
    "4",
    "--gpus-per-node",
    "4",
    "--time",
    "1-12:00:00",
    "--partition",
    "gpu",
    "--account",
    "proj-42",
    "--set",
    "training.adam.steps=2000",
    "--set",
    "description=the \"golden\" run $(not run); 'x'",
]
SMALL = [
    "network.hidden=[16,16]",
    "network.dtype=float64",
    "training.adam.steps=10",
    "training.lbfgs.steps=10",
    "training.log_every=1",
    "reference=null",
]
LONG = [*SMALL[:2], "training.adam.steps=100000", "training.log_every=10", "training.lbfgs=null"]
JOB_SECONDS = 120  # a submitted tiny job until its summary (measured: 17 s from submission)
GONE_SECONDS = 20  # after scancel, until no rank is left on any host (measured: 3 s)


def pinnrun(*args, cwd=None, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pinnrun.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def sets(items: list[str]) -> list[str]:
    return [part for item in items for part in ("--set", item)]


# --------------------------------------------------------------------------- inside an allocation

ALLOCATION = {
    "SLURM_JOB_ID": "7",
    "SLURM_JOB_NODELIST": "n[1-2]",
    "SLURM_TASKS_PER_NODE": "2(x2)",
    "SLURM_GPUS_ON_NODE": "2",
}


@pytest.mark.parametrize(
    "given,expected",
    [
        ({}, ("mpirun", "mpi")),  # daemons through srun: every rank inside the job
        ({"launcher": "srun"}, ("srun", "mpi")),  # the ranks' MPI_Init through srun's PMIx
        ({"cluster": {"launcher": "horovodrun"}}, ("horovodrun", "gloo")),
        ({"cluster": {"controller": "gloo"}}, ("horovodrun", "gloo")),  # Gloo asked for: horovodrun starts it
    ],
)
def test_inside_an_allocation_ranks_start_with_mpirun(given: dict, expected: tuple) -> None:
    from pinnrun.launch.cluster import Cluster
    from pinnrun.launch.command import plan_launch

    cluster = Cluster(**given["cluster"]) if "cluster" in given else None
    plan = plan_launch(
        launcher=given.get("launcher"),
        cluster=cluster,
        environ=ALLOCATION,
        gpu_count=lambda: 0,
        network_of=lambda names: None,
    )
    assert (plan.launcher, plan.controller) == expected
    assert [(h.name, h.slots, h.gpus) for h in plan.hosts] == [("n1", 2, 2), ("n2", 2, 2)]


# --------------------------------------------------------------------------- the batch script


@pytest.mark.slow
def test_the_batch_script_is_the_golden_one(tmp_path: Path) -> None:
    from pinnrun.launch.sbatch import pinnrun_command

    out = tmp_path / "run"
    done = pinnrun("sbatch", SPEC, *GOLDEN_ARGS, "--out", out, "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = (
        GOLDEN.read_text()
        .replace("@PINNRUN@", " ".join(map(shlex.quote, pinnrun_command())))
        .replace("@REPO@", str(ROOT))
        .replace("@OUT@", str(out))
    )
    assert done.stdout == expected
    assert done.stderr == ""  # 4 tasks on 4 GPUs: nothing to note
    assert list(tmp_path.iterdir()) == []  # a dry run writes nothing


@pytest.mark.slow
def test_the_script_runs_exactly_the_train_command(tmp_path: Path) -> None:
    """The exec line, read back as a shell reads it, is the argument list: every --set value as given."""
    from pinnrun.launch.sbatch import pinnrun_command

    out = tmp_path / "a run's folder"
    tricky = "description=$(touch pwned) `x` \"q\" 'p' ; & | > \\ %j"
    done = pinnrun(
        "sbatch",
        SPEC,
        "--nodes",
        "1",
        "--ntasks-per-node",
        "1",
        "--out",
        out,
        "--set",
        tricky,
        "--dry-run",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("exec "))
    assert shlex.split(line)[1:] == [
        *pinnrun_command(),
        "train",
        str(SPEC),
        "--out",
        str(out),
        "--stop-grace",
        "60",
        "--set",
        tricky,
    ]
    assert f'#SBATCH --output="{tmp_path}/a run\'s folder.slurm-%j.out"' in done.stdout.splitlines()
    script = tmp_path / "job.sh"
    script.write_text(done.stdout.replace("exec ", "printf '%s\\n' ", 1))
    echoed = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=10, cwd=tmp_path)
    assert echoed.stdout.splitlines()[-1] == tricky
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.sh"]  # nothing ran


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,message",
    [
        (["--time", "1:60:00"], "--time 1:60:00: minutes 60 is not below 60"),
        (["--time", "2-24"], "--time 2-24: hours 24 is not below 24"),
        (["--time", "90 min"], "--time 90 min: not a SLURM time"),
        (["--time", "0"], "--time 0: a time limit of zero"),
        (["--time", "1:2:3:4"], "not a SLURM time"),
        (["--partition", "gpu;rm -rf"], "--partition gpu;rm -rf: not a SLURM name"),
        (["--partition", "-x"], "not a SLURM name"),
        (["--account", "a b"], "--account a b: not a SLURM name"),
        (["--set", "training.adam.steps=-1"], "training.adam.steps"),
        (["--set", "nosuchkey=1"], "unknown key 'nosuchkey'"),
        (["--nodes", "0"], "Invalid value for '--nodes'"),
        (["--gpus-per-node", "0"], "Invalid value for '--gpus-per-node'"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(tmp_path: Path, args: list[str], message: str) -> None:
    base = {"--nodes": "2", "--ntasks-per-node": "1"}
    for flag in list(base):
        if flag in args:
            del base[flag]
    done = pinnrun(
        "sbatch",
        SPEC,
        *[x for kv in base.items() for x in kv],
        *args,
        "--out",
        tmp_path / "run",
        cwd=tmp_path,
        env=os.environ | {"PATH": _fake_sbatch(tmp_path.parent / f"{tmp_path.name}-bin")},
    )
    assert done.returncode == 2
    assert message in done.stderr, done.stderr
    if not message.startswith("Invalid value"):  # click's own usage errors come with its usage lines
        assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1, done.stderr
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / f"{tmp_path.name}-bin" / "submitted").exists()  # sbatch was never called


@pytest.mark.slow
def test_a_used_run_folder_or_a_missing_spec_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("{}\n")
    done = pinnrun("sbatch", SPEC, "--nodes", "1", "--ntasks-per-node", "1", "--out", tmp_path / "run", "--dry-run")
    assert done.returncode == 2 and "already exists and is not empty" in done.stderr
    done = pinnrun("sbatch", tmp_path / "none.yaml", "--nodes", "1", "--ntasks-per-node", "1", "--dry-run")
    assert done.returncode == 2 and done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1


@pytest.mark.slow
def test_without_sbatch_nothing_is_written(tmp_path: Path) -> None:
    done = pinnrun(
        "sbatch",
        SPEC,
        "--nodes",
        "1",
        "--ntasks-per-node",
        "1",
        "--out",
        tmp_path / "run",
        env=os.environ | {"PATH": str(tmp_path / "empty")},
    )
    assert done.returncode == 2
    assert (
        done.stderr == "error: sbatch not found: submit from a machine with SLURM's commands "
        "(--dry-run prints the batch script)\n"
    )
    assert list(tmp_path.iterdir()) == []


def _fake_sbatch(folder: Path, answer: str = "4242;cluster", status: int = 0) -> str:
    """A stand-in `sbatch` first on PATH: it keeps its arguments and the script it was given."""
    folder.mkdir(exist_ok=True)
    tool = folder / "sbatch"
    tool.write_text(
        f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {shlex.quote(str(folder / 'submitted'))}\n"
        f'cp "$2" {shlex.quote(str(folder / "script"))}\n'
        f"echo {shlex.quote(answer)} >&{1 if status == 0 else 2}\nexit {status}\n"
    )
    tool.chmod(0o755)
    return f"{folder}:{os.environ['PATH']}"


@pytest.mark.slow
def test_submission_prints_the_job_and_where_results_go(tmp_path: Path) -> None:
    path = _fake_sbatch(tmp_path / "bin")
    done = pinnrun(
        "sbatch",
        SPEC,
        "--nodes",
        "2",
        "--ntasks-per-node",
        "2",
        "--gpus-per-node",
        "1",
        "--out",
        tmp_path / "runs" / "r1",
        env=os.environ | {"PATH": path},
    )
    assert done.returncode == 0, done.stderr
    script = tmp_path / "runs" / "r1.sbatch"
    assert done.stdout.splitlines() == [
        "submitted job 4242: burgers_soft on 2 node(s) x 2 rank(s)",
        f"run folder: {tmp_path / 'runs' / 'r1'}",
        f"batch script: {script}; SLURM's log: {tmp_path / 'runs' / 'r1.slurm-4242.out'}",
    ]
    assert done.stderr == "note: 2 ranks per node share 1 GPU(s)\n"
    assert (tmp_path / "bin" / "submitted").read_text().splitlines() == ["--parsable", str(script)]
    assert (tmp_path / "bin" / "script").read_text() == script.read_text()
    assert "#SBATCH --gpus-per-node=1" in script.read_text().splitlines()
    assert not (tmp_path / "runs" / "r1").exists()  # `pinnrun train` makes it when the job starts
    again = pinnrun(
        "sbatch",
        SPEC,
        "--nodes",
        "2",
        "--ntasks-per-node",
        "2",
        "--out",
        tmp_path / "runs" / "r1",
        env=os.environ | {"PATH": path},
    )
    assert again.returncode == 2 and "was submitted already" in again.stderr


@pytest.mark.slow
def test_default_run_folders_of_one_second_differ(tmp_path: Path) -> None:
    path = _fake_sbatch(tmp_path / "bin")
    folders = []
    for _ in range(2):
        done = pinnrun(
            "sbatch", SPEC, "--nodes", "1", "--ntasks-per-node", "1", cwd=tmp_path, env=os.environ | {"PATH": path}
        )
        assert done.returncode == 0, done.stderr
        folders.append(done.stdout.splitlines()[1].removeprefix("run folder: "))
    assert folders[0] != folders[1]
    assert all(Path(f).parent == tmp_path / "runs" and Path(f + ".sbatch").exists() for f in folders)


@pytest.mark.slow
def test_a_refused_submission_is_one_line_and_leaves_no_script(tmp_path: Path) -> None:
    path = _fake_sbatch(tmp_path / "bin", "sbatch: error: invalid partition specified: gpu", status=1)
    done = pinnrun(
        "sbatch",
        SPEC,
        "--nodes",
        "1",
        "--ntasks-per-node",
        "1",
        "--partition",
        "gpu",
        "--out",
        tmp_path / "runs" / "r1",
        env=os.environ | {"PATH": path},
    )
    assert done.returncode == 2
    assert done.stderr == "error: sbatch refused the job: sbatch: error: invalid partition specified: gpu\n"
    assert list((tmp_path / "runs").iterdir()) == []


# --------------------------------------------------------------------------- on the test cluster


def _submit(cluster, out: Path, overrides: list[str], *flags: str) -> str:
    done = cluster.run(
        "a",
        [
            sys.executable,
            "-m",
            "pinnrun.cli",
            "sbatch",
            str(SPEC),
            "--nodes",
            "2",
            "--ntasks-per-node",
            "1",
            *flags,
            "--out",
            str(out),
            *sets(overrides),
        ],
        env=_slurm_env(cluster),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[2].rstrip(":")  # "submitted job N: ..."


def _slurm_env(cluster) -> dict[str, str]:
    from testcluster_slurm import slurm_env

    return slurm_env(cluster)


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {seconds} s")


def _summary(run: Path) -> dict:
    try:
        return json.loads((run / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


def _job_gone(cluster, job: str) -> bool:
    return slurm_run(cluster, "a", ["squeue", "--noheader", "--jobs", job]).stdout.strip() == ""


def _workers(cluster) -> list[tuple[int, str, str]]:
    return [p for p in cluster.processes() if "pinnrun.worker" in p[2]]


@pytest.mark.slow
def test_a_submitted_job_trains_on_two_hosts(slurm_cluster, tmp_path: Path) -> None:
    run = tmp_path / "run"
    job = _submit(slurm_cluster, run, SMALL, "--gpus-per-node", str(GPUS_PER_NODE))
    _wait(lambda: _summary(run).get("status") and _job_gone(slurm_cluster, job), JOB_SECONDS, f"job {job} ending")
    log = (tmp_path / f"run.slurm-{job}.out").read_text()
    assert _summary(run)["status"] == "finished", log
    assert [r["host"] for r in json.loads((run / "env.json").read_text())["ranks"]] == ["a", "b"]
    record = json.loads((run / "run.json").read_text())
    assert record["launcher"] == "mpirun"  # the default inside an allocation (launch/command.py)
    # the allocation's GPUs (SLURM_GPUS_ON_NODE), not those of the machine that submitted it (none)
    assert [(h["name"], h["slots"], h["gpus"]) for h in record["hosts"]] == [
        ("a", 1, GPUS_PER_NODE),
        ("b", 1, GPUS_PER_NODE),
    ]
    assert "finished in" in log


@pytest.mark.slow
def test_a_run_inside_salloc_takes_the_allocation(slurm_cluster, tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = slurm_run(
        slurm_cluster,
        "a",
        [
            "salloc",
            "--nodes=2",
            "--ntasks-per-node=1",
            "--nodelist=b,c",
            sys.executable,
            "-m",
            "pinnrun.cli",
            "train",
            str(SPEC),
            "--out",
            str(run),
            *sets(SMALL),
        ],
        timeout=JOB_SECONDS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "note: SLURM allocation: b:1, c:1" in done.stdout
    assert [r["host"] for r in json.loads((run / "env.json").read_text())["ranks"]] == ["b", "c"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "scancel,clean", [([], False), (["--batch", "--signal=TERM"], True)], ids=["scancel", "scancel-batch-TERM"]
)
def test_scancel_stops_every_rank_on_every_host(slurm_cluster, tmp_path: Path, scancel: list[str], clean: bool) -> None:
    run = tmp_path / "run"
    job = _submit(slurm_cluster, run, LONG)
    _wait(
        lambda: (
            {h for _, h, _ in _workers(slurm_cluster)} == {"a", "b"}
            and (run / "events.jsonl").exists()
            and '"progress"' in (run / "events.jsonl").read_text()
        ),
        JOB_SECONDS,
        "both ranks training",
    )
    stopped = time.monotonic()
    assert slurm_run(slurm_cluster, "a", ["scancel", *scancel, job]).returncode == 0
    _wait(
        lambda: not _workers(slurm_cluster) and _job_gone(slurm_cluster, job),
        GONE_SECONDS,
        f"every rank gone after scancel {' '.join(scancel)}",
    )
    print(f"scancel {' '.join(scancel)}: every rank gone {time.monotonic() - stopped:.1f} s later")
    summary = _summary(run)
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM", summary
    if clean:  # the launcher alone got SIGTERM: the ranks stopped together at a step and saved it
        assert summary["checkpoint"] and summary["step"] > 0 and (run / summary["checkpoint"]).exists()
    shown = pinnrun("inspect", run)
    assert shown.returncode == 0 and "interrupted" in shown.stdout.splitlines()[0]


# --------------------------------------------------------------------------- --launcher srun, on the test cluster

SRUN_FLAGS = ["--mpi=pmix", "--label", "--quit-on-interrupt", "--export=ALL"]  # launch/command.py, written out
KILLED_SECONDS = 10  # a rank killed under srun until pinnrun's exit (measured: ~1 s; the hang watch would take 30)


def _train_argv(run: Path, *flags: str, overrides: list[str] = CLUSTER_SMALL) -> list[str]:
    return [sys.executable, "-m", "pinnrun.cli", "train", str(SPEC), "--out", str(run), *flags, *sets(overrides)]


def _run(folder: Path) -> dict:
    return {
        "summary": _summary(folder),
        "run": json.loads((folder / "run.json").read_text()),
        "hosts": [r["host"] for r in json.loads((folder / "env.json").read_text())["ranks"]],
        "losses": [
            (r["step"], r["loss"], r["losses"])
            for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines())
        ],
    }


@pytest.mark.slow
def test_srun_inside_an_allocation_gives_the_bits_of_the_default_launch(slurm_cluster, tmp_path: Path) -> None:
    """One allocation of 2 nodes x 1 task: the default launch (mpirun), then `--launcher srun`."""
    both = " && ".join(
        shlex.join(argv)
        for argv in (_train_argv(tmp_path / "mpirun"), _train_argv(tmp_path / "srun", "--launcher", "srun"))
    )
    started = time.monotonic()
    done = slurm_run(
        slurm_cluster, "a", ["salloc", "--nodes=2", "--ntasks-per-node=1", "bash", "-c", both], timeout=JOB_SECONDS
    )
    print(f"salloc, mpirun then srun: {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    default, srun = _run(tmp_path / "mpirun"), _run(tmp_path / "srun")
    assert (default["run"]["launcher"], srun["run"]["launcher"]) == ("mpirun", "srun")
    assert default["hosts"] == srun["hosts"] == ["a", "b"]
    # the exact command: Open MPI told the cluster's network (not docker0's, on every host) and mpirun's settings
    assert srun["run"]["argv"] == [
        "srun",
        "--ntasks=2",
        "--nodes=2",
        "--nodelist=a,b",
        *SRUN_FLAGS,
        sys.executable,
        "-m",
        "pinnrun.worker",
        str(tmp_path / "srun"),
    ]
    assert srun["run"]["command"] == (
        "OMPI_MCA_pml=ob1 OMPI_MCA_btl='^openib' "
        "OMPI_MCA_btl_tcp_if_include=10.77.0.0/24 " + shlex.join(srun["run"]["argv"])
    )
    assert srun["summary"]["status"] == default["summary"]["status"] == "finished"
    assert srun["summary"]["point_digests"] == default["summary"]["point_digests"]  # the same shards
    assert srun["summary"]["param_digests"] == default["summary"]["param_digests"]  # after Adam and L-BFGS
    assert srun["losses"] == default["losses"] and len(srun["losses"]) == 20


def _left_on_the_hosts(cluster) -> list[tuple[int, str, str]]:
    """What runs on the hosts but SLURM's own daemons and their helpers (slurmctld's slurmscriptd)."""
    daemons = set(cluster.services.values())
    return [p for p in cluster.processes() if p[0] not in daemons and _parent(p[0]) not in daemons]


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@pytest.mark.slow
def test_a_rank_killed_under_srun_ends_the_job_at_once_naming_it(slurm_cluster, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = slurm_cluster.popen(
        "a",
        ["salloc", "--nodes=2", "--ntasks-per-node=1", *_train_argv(run, "--launcher", "srun", overrides=LONG)],
        env=_slurm_env(slurm_cluster),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait(
            lambda: (
                proc.poll() is not None
                or ((run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) >= 2)
            ),
            JOB_SECONDS,
            "both ranks training",
        )
        assert proc.poll() is None, proc.stdout.read()
        (victim,) = [pid for pid, host, cmd in _workers(slurm_cluster) if host == "b" and "python" in cmd.split()[0]]
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        output, _ = proc.communicate(timeout=KILLED_SECONDS + 60)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"srun, rank 1 killed: pinnrun ended {took:.1f} s later")
    summary = _summary(run)
    assert summary["reason"] == "rank 1 on b was killed by SIGKILL", (summary, output)
    assert "fault" not in summary  # srun's line ended it, not the hang watch (rank 1's heartbeat stopped too)
    assert "failed: rank 1 on b was killed by SIGKILL" in output and took < KILLED_SECONDS, (took, output)
    _wait(lambda: not _left_on_the_hosts(slurm_cluster), GONE_SECONDS, "nothing left on any host")
