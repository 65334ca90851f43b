"""From flags, a cluster spec or a SLURM allocation to the exact launch command."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pinnrun.errors import PinnrunError
from pinnrun.launch.cluster import ENV_NAME, MAX_SLOTS, Cluster, Host
from pinnrun.launch.network import LOCAL_NAMES, cluster_network
from pinnrun.launch.slurm import slurm_hosts

# Horovod's recommended Open MPI settings (docs: running with mpirun).
# --tag-output: each line as [job,rank]<stream>:, so a failure names its rank.
MPIRUN_FLAGS = ["-bind-to", "none", "-map-by", "slot", "-mca", "pml", "ob1", "-mca", "btl", "^openib", "--tag-output"]
# Every run on this host. On CPU ranks Horovod's background threads run only while the step waits
# (training/comm.py), so a short cycle costs no compute and cuts an all-reduce from ~1.1 to ~0.16 ms
# (2 ranks here). Local GPU ranks get it too; that case is not measured.
LOCAL_ENV = {"HOROVOD_CYCLE_TIME": "0.1"}
ALWAYS_EXPORTED = ["PATH", "LD_LIBRARY_PATH", "PYTHONUNBUFFERED", "TF_CPP_MIN_LOG_LEVEL"]
SET_BY_LAUNCHER = {"PYTHONUNBUFFERED", "TF_CPP_MIN_LOG_LEVEL"}  # launch/runner.py sets them for every job


def exported() -> list[str]:
    """ALWAYS_EXPORTED that will be set: mpirun warns about each `-x` name it cannot find
    (`Warning: could not find environment variable "LD_LIBRARY_PATH"` headed every failure's excerpt)."""
    return [k for k in ALWAYS_EXPORTED if k in os.environ or k in SET_BY_LAUNCHER]


# srun starts every rank itself, as a step of the allocation (measured on the test cluster, slurm 22.05):
SRUN_FLAGS = [
    "--mpi=pmix",  # Open MPI's MPI_Init needs a process manager; with MpiDefault=none it aborts in every
    # rank. Debian's Open MPI 4.1 speaks PMIx, not PMI-2 (--mpi=pmi2 aborts too)
    "--label",  # `N: ` before each line of rank N, so a failure names its rank (train.rank_errors)
    "--quit-on-interrupt",  # one SIGINT (the launcher's hard stop) kills the step: every rank gone 0.6 s later,
    # where by default srun only prints the tasks' state (10.6 s, until SIGTERM)
    "--export=ALL",
]
# Not --kill-on-bad-exit: it ends the step with SIGTERM and SIGKILL only KillWait (30 s by default) later, and a
# rank blocked in an all-reduce with a killed one never runs its SIGTERM handler; once it began, srun's own
# termination waits for it too. A rank that fails in Python takes the others down through Horovod's shutdown
# (the job ended 2.2 s after a rank's SIGTERM); one killed outright is seen in srun's line about it.
# Horovod's Open MPI settings that mpirun gets as -mca (MPIRUN_FLAGS) reach ranks under srun through the
# environment, so both launchers run the same transport.
SRUN_OPEN_MPI_ENV = {"OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "^openib"}
# Characters a POSIX shell reads as themselves outside quotes (horovodrun runs `cd CWD` unquoted
# on remote hosts).
SHELL_PLAIN = re.compile(r"[A-Za-z0-9_./+,:@%=-]+")


@dataclass(frozen=True)
class LaunchPlan:
    ranks: int
    hosts: list[Host]
    launcher: str  # horovodrun | mpirun | srun | direct (one local rank) | local (Gloo, no MPI)
    controller: str  # gloo | mpi (horovodrun; mpirun and local on this host)
    network_interface: str | None = None
    ssh_port: int | None = None
    env: dict[str, str] = field(default_factory=dict)  # exported to every rank
    notes: list[str] = field(default_factory=list)  # what the user should know
    network: str | None = None  # mpirun's TCP traffic: the cluster spec's interface, or the range found
    mca: dict[str, str] = field(default_factory=dict)  # further Open MPI parameters (mpirun)


def local_gpus() -> list[str]:
    """`nvidia-smi -L` GPU lines, [] without a working driver (no TensorFlow import:
    the launcher must start fast)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in out.stdout.splitlines() if line.startswith("GPU ")] if out.returncode == 0 else []


def local_gpu_count() -> int:
    return len(local_gpus())


def shell_safe_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without variables whose names a shell could not export: horovodrun writes
    every name unquoted into the shell command that starts a rank, so a name like
    `K;touch x;Z` would run `touch x`."""
    return {k: v for k, v in environ.items() if ENV_NAME.fullmatch(k)}


def plan_launch(
    np: int | None = None,
    gpus: bool = False,
    hosts: list[Host] | None = None,
    launcher: str | None = None,
    cluster: Cluster | None = None,
    environ: Mapping[str, str] = os.environ,
    gpu_count=local_gpu_count,
    network_of=cluster_network,
) -> LaunchPlan:
    """Flags override the cluster spec; SLURM's allocation fills in when neither names hosts.
    `gpus`: one GPU per rank; without --np or hosts, one rank per GPU of this host."""
    cluster = cluster or Cluster()
    notes = []
    hosts = hosts or list(cluster.hosts) or None
    allocated = False
    if hosts is None:
        hosts = slurm_hosts(environ)
        allocated = bool(hosts)
        if hosts:
            notes.append(f"SLURM allocation: {', '.join(f'{h.name}:{h.slots}' for h in hosts)}")
    # this host's GPUs, counted once (nvidia-smi): for the rank count and for the notes
    here = gpu_count() if gpus and all(h.name in LOCAL_NAMES for h in hosts or []) else None
    ranks = np or (sum(h.slots for h in hosts) if hosts else max(here, 1) if gpus else 1)
    if ranks < 1:
        raise PinnrunError("the number of ranks must be >= 1")
    if hosts is None:
        if ranks > MAX_SLOTS:
            raise PinnrunError(f"{ranks} ranks on this host: at most {MAX_SLOTS} ranks run on one host")
        hosts = [Host(name="localhost", slots=ranks)]
    slots = sum(h.slots for h in hosts)
    if ranks > slots:
        raise PinnrunError(
            f"{ranks} ranks asked but the hosts offer {slots} slot(s): "
            f"{', '.join(f'{h.name}:{h.slots}' for h in hosts)}"
        )
    local = all(h.name in LOCAL_NAMES for h in hosts)
    cores = len(os.sched_getaffinity(0))
    if local and ranks > cores:
        notes.append(f"{ranks} ranks on {cores} core(s): oversubscribed, timings will suffer")
    if gpus:
        notes += gpu_notes(ranks, hosts, here)
    chosen = launcher or cluster.launcher
    controller = cluster.controller
    if local and launcher is None and "launcher" not in cluster.model_fields_set:
        # This host only: one process needs no launcher and no Horovod. Several start through
        # mpirun with Horovod's MPI controller (on 2 ranks 70-79 vs 57-64 steps/s for Gloo),
        # or through pinnrun's own Gloo rendezvous when Gloo is asked for or there is no mpirun;
        # neither has horovodrun's seconds of start-up.
        if ranks == 1:
            chosen = "direct"
        elif cluster.controller == "mpi" or (shutil.which("mpirun") and "controller" not in cluster.model_fields_set):
            chosen, controller = "mpirun", "mpi"
        else:
            chosen, controller = "local", "gloo"
    if (
        allocated
        and launcher is None
        and "launcher" not in cluster.model_fields_set
        and not (cluster.controller == "gloo" and "controller" in cluster.model_fields_set)
    ):
        # Inside an allocation mpirun starts its daemons with srun (Open MPI's plm/slurm): every rank is
        # part of the job on its host (SLURM's limits, GPU binding and scancel reach it; no ssh between
        # nodes needed), and Horovod's MPI controller starts faster than horovodrun's Gloo (test cluster,
        # 2 nodes x 1 rank, tiny run: job run time 18 s vs 32 s). horovodrun would reach the other nodes
        # over ssh, outside the job (scancel still ended them there, through ssh's hang-up).
        chosen, controller = "mpirun", "mpi"
    unexportable = sorted(set(environ) - set(shell_safe_environment(environ)))
    if unexportable:
        notes.append(f"not passed to the ranks (not shell variable names): {', '.join(map(repr, unexportable))}")
    env = (LOCAL_ENV if local else {}) | {k: str(v) for k, v in cluster.env.items()}
    network = cluster.network_interface
    if network is None and not local and chosen in ("mpirun", "srun"):  # horovodrun tests every interface itself
        found = network_of([h.name for h in hosts])
        network = found.cidr if found else None
    if chosen == "srun":
        # Ranks join through MPI_Init (PMIx from srun): Horovod's MPI controller. No mpirun to tell Open MPI
        # the network, so the environment does (without it a 2-node all-reduce under srun tried docker0's
        # 172.17.0.1 and hung); the cluster spec's env still wins.
        controller = "mpi"
        env = SRUN_OPEN_MPI_ENV | ({"OMPI_MCA_btl_tcp_if_include": network} if network else {}) | env
    return LaunchPlan(
        ranks, hosts, chosen, controller, cluster.network_interface, cluster.ssh_port, env, notes, network
    )


def placement(ranks: int, hosts: list[Host]) -> list[Host]:
    """The hosts that get ranks, each with the slots it fills: ranks fill the hosts' slots in
    order (mpirun -map-by slot). horovodrun 0.28.1 starts a rank on every slot it is given,
    whatever -np says (gloo_run: get_host_assignments without a maximum), so it is given these."""
    used, left = [], ranks
    for host in hosts:
        if left:
            used.append(host.model_copy(update={"slots": min(host.slots, left)}))
            left -= used[-1].slots
    return used


def gpu_notes(ranks: int, hosts: list[Host], local_gpus: int | None) -> list[str]:
    """What --gpus will get. This host's GPUs are counted here; another host's come from the
    cluster spec or the SLURM allocation (`gpus`), never from this machine, and are unknown
    for a bare --hosts list. Ranks fill the hosts' slots in order (mpirun -map-by slot)."""
    if local_gpus is not None:
        if local_gpus == 0:
            return [f"no GPU found: running {ranks} CPU rank(s) instead"]
        return [f"{ranks} ranks share {local_gpus} GPU(s)"] if local_gpus < ranks else []
    placed = placement(ranks, hosts)  # each host with the ranks it gets as its slots
    unknown = [h.name for h in placed if h.gpus is None]
    notes = []
    if unknown:
        notes.append(
            f"GPUs of {', '.join(unknown)} not known here (give `gpus:` per host in a cluster spec): "
            "each rank takes its host's GPU by local rank if it has one, else runs on CPU"
        )
    known = [h for h in placed if h.gpus is not None]
    cpu = [h.name for h in known if h.gpus == 0]
    if cpu:
        notes.append(f"no GPU on {', '.join(cpu)}: CPU ranks there")
    notes += [f"{h.name}: {h.slots} ranks share {h.gpus} GPU(s)" for h in known if 0 < h.gpus < h.slots]
    return notes


def worker_command(run_dir: Path, worker_args: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "pinnrun.worker", str(run_dir), *worker_args]


def build_command(
    plan: LaunchPlan, run_dir: Path, is_root: bool | None = None, worker_args: tuple[str, ...] = ()
) -> list[str]:
    worker = worker_command(run_dir, worker_args)
    if plan.launcher == "direct":
        return worker
    if plan.launcher == "local":
        return [sys.executable, "-m", "pinnrun.launch.gloo_local", str(plan.ranks), *worker]
    host_list = ",".join(f"{h.name}:{h.slots}" for h in placement(plan.ranks, plan.hosts))
    if plan.launcher == "horovodrun":
        _check_cwd_for_remote_horovodrun(plan.hosts)
        cmd = [_venv_tool("horovodrun"), "-np", str(plan.ranks), "-H", host_list, f"--{plan.controller}"]
        if plan.network_interface:
            cmd += ["--network-interface", plan.network_interface]
        if plan.ssh_port:
            cmd += ["-p", str(plan.ssh_port)]
        return cmd + worker
    if plan.launcher == "mpirun":
        is_root = os.geteuid() == 0 if is_root is None else is_root
        cmd = ["mpirun", "-np", str(plan.ranks), "-H", host_list, *MPIRUN_FLAGS]
        if is_root:
            cmd.append("--allow-run-as-root")
        for key in [*exported(), *plan.env]:
            cmd += ["-x", key]
        if plan.network:
            cmd += ["-mca", "btl_tcp_if_include", plan.network, "-mca", "oob_tcp_if_include", plan.network]
        for name, value in plan.mca.items():
            cmd += ["-mca", name, value]
        if plan.ssh_port:
            cmd += ["-mca", "plm_rsh_args", f"-p {plan.ssh_port}"]
        return cmd + worker
    if plan.launcher == "srun":
        cmd = ["srun", f"--ntasks={plan.ranks}"]
        placed = placement(plan.ranks, plan.hosts)
        if not all(h.name in LOCAL_NAMES for h in placed):
            # the hosts mpirun would fill, in order (without --nodes srun spreads fewer ranks over every node)
            cmd += [f"--nodes={len(placed)}", f"--nodelist={','.join(h.name for h in placed)}"]
        return cmd + SRUN_FLAGS + worker
    raise PinnrunError(f"unknown launcher '{plan.launcher}' (horovodrun, mpirun, srun, direct, local)")


def printable(cmd: list[str], env: Mapping[str, str]) -> str:
    """The command as one shell line, with the exported variables in front; every piece is
    quoted, so a shell (or shlex.split) gets back exactly these names, values and arguments."""
    if all(ENV_NAME.fullmatch(k) for k in env):
        prefix = [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    else:  # a shell takes only plain names as assignments; env(1) takes any NAME=value argument
        prefix = ["env", *(shlex.quote(f"{k}={v}") for k, v in env.items())]
    return " ".join(prefix + [shlex.quote(c) for c in cmd])


def _check_cwd_for_remote_horovodrun(hosts: list[Host]) -> None:
    """horovodrun starts a remote rank with `cd CWD ; ...` in a shell, CWD unquoted (gloo_run.py)."""
    if all(h.name in LOCAL_NAMES for h in hosts):
        return
    cwd = os.getcwd()
    if not SHELL_PLAIN.fullmatch(cwd):
        odd = sorted({c for c in cwd if not SHELL_PLAIN.fullmatch(c)})
        raise PinnrunError(
            f"horovodrun would run `cd {cwd}` unquoted on the remote hosts ({' '.join(map(repr, odd))} "
            "would be read by their shell): start pinnrun from a folder whose path has only "
            "letters, digits and _ . / + , : @ % = -"
        )


def _venv_tool(name: str) -> str:
    """The tool installed beside this Python (the venv's), else whatever PATH has."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name
