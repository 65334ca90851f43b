"""SLURM on the test cluster: munged, slurmctld on host a, slurmd on every host.

Debian's slurm-wlm 22.05 and munge 0.5.15, each daemon with its own files under the
cluster's state folder (nothing in /etc, /run or /var is touched, so the machine's own
SLURM or munge, if any, is left alone and two test clusters do not meet):

    munge.key, munge.socket, munged.{pid,log,seed}   one munged for all hosts: its socket is a
                                                     file on the shared file system, which every
                                                     host reaches whatever its network namespace
    slurm.conf, gres.conf                            AuthInfo=socket=<that socket>
    slurmctld/, slurmctld.{pid,log}                  state of the controller (host a)
    slurmd-<node>/, slurmd-<node>.{pid,log}          each slurmd's spool (%n: its node name)

Client commands (sbatch, srun, squeue, scancel, ...) need SLURM_CONF pointing at the
state's slurm.conf: `slurm_env(cluster)`, or `slurm_run(cluster, host, argv)`.
By hand: `S=$(scripts/testcluster.py up --slurm)`, then
`scripts/testcluster.py exec $S a -- env SLURM_CONF=$S/slurm.conf sinfo`.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

REQUIRED_TOOLS = ("munged", "mungekey", "slurmctld", "slurmd", "sinfo", "sbatch", "srun", "scancel", "squeue")
PARTITION = "test"
CPUS_PER_NODE = 2
# Each node claims one GPU that does not exist (a GRES with no device file): SLURM then sets
# SLURM_GPUS_ON_NODE in a job that asks for --gpus-per-node, so a test can tell the allocation's
# GPU count from the submitting machine's (which has none).
GPUS_PER_NODE = 1  # one device file each: /dev/null
# Seconds between a job's SIGTERM and SIGKILL (scancel, time limit): SLURM's default, kept so that
# the tests see what a real cluster does (pinnrun/launch/sbatch.py says how a run stops within it).
KILL_WAIT = 30
READY_SECONDS = 30


def missing_slurm() -> str | None:
    """Why SLURM cannot run on the test cluster here, or None."""
    import shutil

    absent = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if absent:
        return f"SLURM on the test cluster needs {', '.join(absent)} (apt-get install slurm-wlm munge)"
    return None


def slurm_conf(cluster) -> Path:
    return cluster.state / "slurm.conf"


def slurm_env(cluster, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment in which SLURM's client commands talk to this cluster's controller."""
    return {**(os.environ if base is None else base), "SLURM_CONF": str(slurm_conf(cluster))}


def slurm_run(cluster, host: str, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """A SLURM client command run on `host` (a bounded wait unless the caller gives one)."""
    kwargs.setdefault("timeout", 30)
    kwargs["env"] = slurm_env(cluster, kwargs.get("env"))
    return cluster.run(host, argv, **kwargs)


def start_slurm(cluster) -> None:
    """munged, slurmctld on the first host, slurmd on every host; returns once every node is idle.
    The daemons' pids go to cluster.services, so testcluster.down() ends them."""
    reason = missing_slurm()
    if reason:
        raise RuntimeError(reason)
    try:
        _munge(cluster)
        _write_config(cluster)
        first = cluster.hosts[0].name
        _daemon(cluster, first, "slurmctld", ["slurmctld", "-D", "-f", str(slurm_conf(cluster))])
        for host in cluster.hosts:
            _daemon(cluster, host.name, f"slurmd-{host.name}", ["slurmd", "-D", "-f", str(slurm_conf(cluster))])
        _wait_idle(cluster)
    except BaseException:  # a half-started cluster is of no use: `up --slurm` leaves nothing behind
        from testcluster import down

        down(cluster)
        raise


def _munge(cluster) -> None:
    s = cluster.state
    key = s / "munge.key"
    subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True, capture_output=True, timeout=30)
    key.chmod(0o400)
    socket = s / "munge.socket"
    # --force: the state folder lies under /tmp, which munged's directory checks (sticky, world
    # writable) would otherwise refuse; the key itself is made per cluster and only root reads it.
    _daemon(
        cluster,
        cluster.hosts[0].name,
        "munged",
        [
            "munged",
            "--foreground",
            "--force",
            f"--socket={socket}",
            f"--key-file={key}",
            f"--pid-file={s / 'munged.pid'}",
            f"--log-file={s / 'munged.log'}",
            f"--seed-file={s / 'munged.seed'}",
        ],
    )
    deadline = time.monotonic() + READY_SECONDS
    while not socket.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"munged did not start: {_tail(s / 'munged.log')}")
        time.sleep(0.1)


def _write_config(cluster) -> None:
    s = cluster.state
    first = cluster.hosts[0]
    names = ",".join(h.name for h in cluster.hosts)
    nodes = "".join(
        f"NodeName={h.name} NodeAddr={h.address} CPUs={CPUS_PER_NODE} Gres=gpu:{GPUS_PER_NODE} State=UNKNOWN\n"
        for h in cluster.hosts
    )
    slurm_conf(cluster).write_text(
        "# The test cluster's SLURM (scripts/testcluster_slurm.py); every file lives in the state folder.\n"
        "ClusterName=pinnruntest\n"
        f"SlurmctldHost={first.name}({first.address})\n"
        "AuthType=auth/munge\nCredType=cred/munge\n"
        f"AuthInfo=socket={s / 'munge.socket'}\n"
        "SlurmUser=root\nSlurmdUser=root\n"
        f"StateSaveLocation={s / 'slurmctld'}\n"
        f"SlurmctldPidFile={s / 'slurmctld.pid'}\nSlurmctldLogFile={s / 'slurmctld.log'}\n"
        # %n: each slurmd's node name (they share one file system)
        f"SlurmdSpoolDir={s / 'slurmd-%n'}\n"
        f"SlurmdPidFile={s / 'slurmd-%n.pid'}\nSlurmdLogFile={s / 'slurmd-%n.log'}\n"
        # a node's own temporary folder: srun --mpi=pmix makes /tmp/spmix_appdir_<uid>_<job>.<step> on
        # each node, and the hosts share /tmp ("Cannot create directory ... File exists" on the second)
        f"TmpFS={s / 'slurmd-%n' / 'tmp'}\n"
        "SlurmctldDebug=info\nSlurmdDebug=info\n"
        # No cgroups in the hosts (namespaces of one machine whose cgroup tree belongs to its owner):
        # processes are tracked by their parent chain, tasks are not confined.
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
        "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
        "JobCompType=jobcomp/none\nMpiDefault=none\nSwitchType=switch/none\n"
        "SchedulerType=sched/backfill\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
        "GresTypes=gpu\n"
        # CPUs as configured, whatever this machine has (its cores are shared by the three hosts)
        "SlurmdParameters=config_overrides\n"
        "ReturnToService=2\n"
        f"KillWait={KILL_WAIT}\n"
        # a finished job stays visible to squeue/scontrol a while (no accounting database here for sacct)
        "MinJobAge=300\n" + nodes + f"PartitionName={PARTITION} Nodes={names} Default=YES MaxTime=INFINITE State=UP\n"
    )
    # slurmd drops a GPU with no device file ("Removing file-less GPU"): /dev/null stands in
    (s / "gres.conf").write_text(f"NodeName={names} Name=gpu File=/dev/null\n")
    # slurmd 22.05 loads a cgroup plugin even when nothing uses it, and its default (autodetect) fails
    # here: `ip netns exec` gave the hosts a fresh /sys with nothing mounted on /sys/fs/cgroup
    # ("Unable to initialize cgroup plugin"). cgroup/v1 named outright loads without looking.
    (s / "cgroup.conf").write_text("CgroupPlugin=cgroup/v1\nCgroupAutomount=no\n")
    for folder in ["slurmctld", *(f"slurmd-{h.name}" for h in cluster.hosts)]:  # slurmd makes no spool folder
        (s / folder).mkdir(exist_ok=True)
    for host in cluster.hosts:
        (s / f"slurmd-{host.name}" / "tmp").mkdir(exist_ok=True)


def _daemon(cluster, host: str, name: str, argv: list[str]) -> None:
    log = open(cluster.state / f"{name}.out", "ab")
    # SLURM_CONF as well as -f: slurmd finds gres.conf and cgroup.conf beside the file it names
    proc = cluster.popen(
        host, argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, env=slurm_env(cluster)
    )
    cluster.services[name] = proc.pid
    cluster.save()


def _wait_idle(cluster) -> None:
    """Every node registered and idle: `sinfo` on the first host says so."""
    deadline = time.monotonic() + READY_SECONDS
    first = cluster.hosts[0].name
    wanted = {h.name for h in cluster.hosts}
    seen = ""
    while time.monotonic() < deadline:
        out = slurm_run(cluster, first, ["sinfo", "--noheader", "--Node", "--format=%N %t"], timeout=10)
        states = dict(line.split() for line in out.stdout.splitlines() if len(line.split()) == 2)
        seen = out.stdout.strip() or out.stderr.strip()
        if set(states) >= wanted and all(states[n] == "idle" for n in wanted):
            return
        for name, pid in cluster.services.items():
            if not Path(f"/proc/{pid}").exists():
                raise RuntimeError(
                    f"{name} exited: {_tail(cluster.state / f'{name}.out')} {_tail(cluster.state / f'{name}.log')}"
                )
        time.sleep(0.5)
    raise RuntimeError(
        f"SLURM nodes not idle after {READY_SECONDS} s: {seen}; slurmctld.log: {_tail(cluster.state / 'slurmctld.log')}"
    )


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
