"""Launch planning: from flags, a cluster spec or a SLURM allocation to the exact command."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinnrun.errors import PinnrunError, SpecError
from pinnrun.launch.cluster import Cluster, Host, load_cluster, parse_hosts
from pinnrun.launch.command import LaunchPlan, build_command, plan_launch, printable
from pinnrun.launch.network import Network
from pinnrun.launch.slurm import expand_nodelist, expand_tasks_per_node, slurm_hosts
from pinnrun.results.run_folder import new_run_dir

REPO = Path(__file__).resolve().parents[1]
POISSON = REPO / "problems" / "poisson1d.yaml"
RUN = Path("/runs/r1")
WORKER = [sys.executable, "-m", "pinnrun.worker", str(RUN)]
# Written out, not imported from the code: dropping a flag must fail a test. Horovod's Open MPI
# settings, and --tag-output, which prefixes each line with [job,rank] so a failure names its rank.
MPIRUN_2_LOCAL = [
    "mpirun",
    "-np",
    "2",
    "-H",
    "localhost:2",
    "-bind-to",
    "none",
    "-map-by",
    "slot",
    "-mca",
    "pml",
    "ob1",
    "-mca",
    "btl",
    "^openib",
    "--tag-output",
]
# LD_LIBRARY_PATH only where it is set (mpirun warns about a -x name it cannot find)
EXPORTED = [
    "-x",
    "PATH",
    *(["-x", "LD_LIBRARY_PATH"] if "LD_LIBRARY_PATH" in os.environ else []),
    "-x",
    "PYTHONUNBUFFERED",
    "-x",
    "TF_CPP_MIN_LOG_LEVEL",
]
CYCLE_TIME = {"HOROVOD_CYCLE_TIME": "0.1"}  # every local run: a short Horovod cycle (see launch/command.py)


def no_gpu_lookup() -> int:
    raise AssertionError("gpu_count must not be called here")


def plan(**kw):
    kw.setdefault("environ", {})
    kw.setdefault("gpu_count", no_gpu_lookup)
    return plan_launch(**kw)


# --------------------------------------------------------------------------
# horovodrun
# --------------------------------------------------------------------------


def test_local_ranks_start_through_mpirun_with_the_mpi_controller_by_default(monkeypatch) -> None:
    monkeypatch.setattr("pinnrun.launch.command.shutil.which", lambda name: f"/usr/bin/{name}")
    p = plan(np=2)
    assert (p.ranks, p.launcher, p.controller) == (2, "mpirun", "mpi")
    assert p.hosts == [Host(name="localhost", slots=2)]
    assert p.notes == [] and p.env == CYCLE_TIME
    assert build_command(p, RUN, is_root=False) == [*MPIRUN_2_LOCAL, *EXPORTED, "-x", "HOROVOD_CYCLE_TIME", *WORKER]
    assert build_command(p, RUN, is_root=True) == [
        *MPIRUN_2_LOCAL,
        "--allow-run-as-root",
        *EXPORTED,
        "-x",
        "HOROVOD_CYCLE_TIME",
        *WORKER,
    ]


def test_local_ranks_join_through_pinnruns_gloo_rendezvous_without_mpirun_or_when_gloo_is_asked(monkeypatch) -> None:
    monkeypatch.setattr("pinnrun.launch.command.shutil.which", lambda name: None)
    for p in (plan(np=2), plan(np=2, cluster=Cluster(controller="gloo"))):
        assert (p.launcher, p.controller, p.env) == ("local", "gloo", CYCLE_TIME)
        assert build_command(p, RUN) == [sys.executable, "-m", "pinnrun.launch.gloo_local", "2", *WORKER]
    monkeypatch.setattr("pinnrun.launch.command.shutil.which", lambda name: f"/usr/bin/{name}")
    assert plan(np=2, cluster=Cluster(controller="gloo")).launcher == "local"
    assert (plan(np=2, cluster=Cluster(controller="mpi")).launcher, plan(np=2).launcher) == ("mpirun", "mpirun")


def test_cluster_env_overrides_the_local_defaults() -> None:
    p = plan(np=2, cluster=Cluster(env={"HOROVOD_CYCLE_TIME": 5}))
    assert p.env == {"HOROVOD_CYCLE_TIME": "5"}
    assert plan(hosts=[Host(name="n1", slots=2)]).env == {}  # other hosts: Horovod's own defaults


def test_horovodrun_gloo_when_asked_or_beyond_this_host() -> None:
    cmd = build_command(plan(np=2, launcher="horovodrun"), RUN)
    assert Path(cmd[0]).name == "horovodrun"
    assert cmd[1:] == ["-np", "2", "-H", "localhost:2", "--gloo", *WORKER]
    assert plan(hosts=[Host(name="n1", slots=2), Host(name="n2", slots=2)]).launcher == "horovodrun"


def test_one_local_rank_runs_the_worker_directly() -> None:
    p = plan()
    assert (p.ranks, p.launcher) == (1, "direct")
    assert build_command(p, RUN) == WORKER


def test_one_rank_keeps_a_launcher_that_was_asked_for() -> None:
    assert build_command(plan(np=1, launcher="horovodrun"), RUN)[1:5] == ["-np", "1", "-H", "localhost:1"]
    assert plan(np=1, cluster=Cluster(launcher="mpirun")).launcher == "mpirun"
    assert plan(np=1, hosts=[Host(name="n1", slots=1)]).launcher == "horovodrun"


def test_worker_arguments_follow_the_run_folder() -> None:
    cmd = build_command(plan(np=2), RUN, worker_args=("--probe",))
    assert cmd[-len(WORKER) - 1 :] == [*WORKER, "--probe"]


def test_horovodrun_mpi_controller_interface_and_ssh_port_from_cluster() -> None:
    cluster = Cluster(
        hosts=[Host(name="n1", slots=2), Host(name="n2", slots=2)],
        controller="mpi",
        network_interface="ib0",
        ssh_port=2222,
        env={"NCCL_DEBUG": "INFO"},
    )
    p = plan(cluster=cluster)
    assert p.ranks == 4
    cmd = build_command(p, RUN)
    assert Path(cmd[0]).name == "horovodrun"
    assert cmd[1:] == ["-np", "4", "-H", "n1:2,n2:2", "--mpi", "--network-interface", "ib0", "-p", "2222", *WORKER]
    assert p.env == {"NCCL_DEBUG": "INFO"}


def test_flags_override_cluster_spec() -> None:
    cluster = Cluster(hosts=[Host(name="n1", slots=8)], launcher="mpirun")
    p = plan(np=2, hosts=parse_hosts("h1:1,h2:1"), launcher="horovodrun", cluster=cluster)
    assert p.launcher == "horovodrun"
    assert [h.name for h in p.hosts] == ["h1", "h2"]
    assert plan(cluster=cluster).launcher == "mpirun"


# --------------------------------------------------------------------------
# mpirun and srun
# --------------------------------------------------------------------------


def test_mpirun_command() -> None:
    cluster = Cluster(
        launcher="mpirun", env={"NCCL_DEBUG": "INFO", "OMP_NUM_THREADS": 4}, network_interface="eth0", ssh_port=2200
    )
    p = plan(np=2, cluster=cluster)
    assert p.env == CYCLE_TIME | {"NCCL_DEBUG": "INFO", "OMP_NUM_THREADS": "4"}  # values become strings
    assert build_command(p, RUN, is_root=False) == [
        *MPIRUN_2_LOCAL,
        *EXPORTED,
        "-x",
        "HOROVOD_CYCLE_TIME",
        "-x",
        "NCCL_DEBUG",
        "-x",
        "OMP_NUM_THREADS",
        "-mca",
        "btl_tcp_if_include",
        "eth0",
        "-mca",
        "oob_tcp_if_include",
        "eth0",
        "-mca",
        "plm_rsh_args",
        "-p 2200",
        *WORKER,
    ]


def test_mpirun_allow_run_as_root_only_for_root() -> None:
    p = plan(np=2, launcher="mpirun")
    assert "--allow-run-as-root" in build_command(p, RUN, is_root=True)
    assert "--allow-run-as-root" not in build_command(p, RUN, is_root=False)
    # default: decided by the current user
    assert ("--allow-run-as-root" in build_command(p, RUN)) == (os.geteuid() == 0)


# srun's flags, written out: Open MPI through PMIx (MpiDefault=none aborts MPI_Init), `N: ` before each
# line, one SIGINT kills the step; and, through the environment, mpirun's -mca settings.
SRUN_FLAGS = ["--mpi=pmix", "--label", "--quit-on-interrupt", "--export=ALL"]
SRUN_OPEN_MPI = {"OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "^openib"}
ALLOCATION = {"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "n[1-2]", "SLURM_TASKS_PER_NODE": "2(x2)"}


def test_srun_inside_an_allocation_starts_every_rank_with_the_network_in_the_environment() -> None:
    asked = []

    def network_of(names):
        asked.append(names)
        return Network("eth0", "10.1.0.0/16")

    p = plan(launcher="srun", environ=ALLOCATION, network_of=network_of)
    assert (p.ranks, p.launcher, p.controller) == (4, "srun", "mpi")  # Horovod's MPI controller: MPI_Init via PMIx
    assert asked == [["n1", "n2"]]
    assert p.env == SRUN_OPEN_MPI | {"OMPI_MCA_btl_tcp_if_include": "10.1.0.0/16"}
    assert build_command(p, RUN) == ["srun", "--ntasks=4", "--nodes=2", "--nodelist=n1,n2", *SRUN_FLAGS, *WORKER]


@pytest.mark.parametrize(
    "np,nodes",
    [(3, ["--nodes=2", "--nodelist=n1,n2"]), (2, ["--nodes=1", "--nodelist=n1"]), (1, ["--nodes=1", "--nodelist=n1"])],
)
def test_srun_fills_the_hosts_slots_in_order_as_mpirun_does(np: int, nodes: list[str]) -> None:
    p = plan(np=np, launcher="srun", environ=ALLOCATION, network_of=lambda names: None)
    assert p.env == SRUN_OPEN_MPI  # no network found: Open MPI's own choice
    assert build_command(p, RUN) == ["srun", f"--ntasks={np}", *nodes, *SRUN_FLAGS, *WORKER]


def test_srun_takes_the_cluster_specs_interface_and_its_env_wins() -> None:
    cluster = Cluster(
        hosts=[Host(name="n1", slots=1), Host(name="n2", slots=1)],
        launcher="srun",
        network_interface="ib0",
        env={"OMPI_MCA_btl": "^openib,ofi", "NCCL_DEBUG": "INFO"},
    )
    p = plan(cluster=cluster, network_of=lambda names: pytest.fail("the cluster spec names the interface"))
    assert p.env == {
        "OMPI_MCA_pml": "ob1",
        "OMPI_MCA_btl": "^openib,ofi",
        "OMPI_MCA_btl_tcp_if_include": "ib0",
        "NCCL_DEBUG": "INFO",
    }
    assert build_command(p, RUN) == ["srun", "--ntasks=2", "--nodes=2", "--nodelist=n1,n2", *SRUN_FLAGS, *WORKER]


def test_srun_on_this_host_names_no_nodes() -> None:
    p = plan(np=3, launcher="srun")
    assert p.env == SRUN_OPEN_MPI | CYCLE_TIME
    assert build_command(p, RUN) == ["srun", "--ntasks=3", *SRUN_FLAGS, *WORKER]


def test_printable_puts_env_in_front_and_quotes() -> None:
    line = printable(["horovodrun", "-np", "2", "/a b/c"], {"NCCL_DEBUG": "INFO", "X": "two words"})
    assert line == "NCCL_DEBUG=INFO X='two words' horovodrun -np 2 '/a b/c'"


# --------------------------------------------------------------------------
# ranks, hosts, GPUs
# --------------------------------------------------------------------------


def test_parse_hosts() -> None:
    assert parse_hosts("h1:2,h2:2") == [Host(name="h1", slots=2), Host(name="h2", slots=2)]
    assert parse_hosts("h1") == [Host(name="h1", slots=1)]
    assert parse_hosts(" h1:3 , node-2.cluster ") == [Host(name="h1", slots=3), Host(name="node-2.cluster", slots=1)]


@pytest.mark.parametrize("text", ["h1:0", "h1:x", ":2", "h1:2:3", "h1:-1", ",", ""])
def test_parse_hosts_bad_forms(text: str) -> None:
    with pytest.raises(PinnrunError, match="--hosts"):
        parse_hosts(text)


@pytest.mark.parametrize(
    "text",
    [
        "bad host:2",
        "h@1",
        "h1:00",
        "-oProxyCommand=x:1",
        ".h:1",
        "h;ls",
        "nœud",
        "h1:4097",
        "h1:" + "9" * 5000,
        "h1:２",
        "x" * 254,
    ],
)
def test_parse_hosts_bad_name_or_slots(text: str) -> None:
    with pytest.raises(PinnrunError, match="--hosts"):
        parse_hosts(text)


def test_parse_hosts_says_what_is_wrong() -> None:
    with pytest.raises(
        PinnrunError,
        match=r"^--hosts -v:2: '-v:2': name: not a host name: letters, digits, '_', "
        r"'\.' and '-' only, not starting with '-' or '\.'$",
    ):
        parse_hosts("-v:2")
    with pytest.raises(PinnrunError, match=r"'h:5000': slots: input should be less than or equal to 4096"):
        parse_hosts("h:5000")


def test_more_ranks_than_slots() -> None:
    with pytest.raises(PinnrunError, match=r"5 ranks .* 4 slot"):
        plan(np=5, hosts=parse_hosts("h1:2,h2:2"))
    assert plan(np=3, hosts=parse_hosts("h1:2,h2:2")).ranks == 3  # fewer is fine


def test_local_ranks_beyond_available_memory_are_refused_with_the_numbers() -> None:
    from pinnrun.launch.memory_check import check_plan_memory
    from pinnrun.spec.loader import load_spec
    from pinnrun.spec.memory import estimate_rank_memory

    loaded = load_spec(REPO / "problems" / "poisson1d.yaml")
    spec, parsed = loaded.spec, loaded.expressions
    estimate = estimate_rank_memory(spec, 1, parsed)
    reference = estimate.parts["reference"]
    per_rank = 220 * 2**20 + estimate.total - reference  # measured runtime + the spec's training
    exactly_17 = 255 * 2**20 + reference + 17 * per_rank  # shared library pages, rank 0's reference
    local = [Host(name="localhost", slots=32)]
    assert check_plan_memory(spec, LaunchPlan(17, local, "mpirun", "mpi"), parsed, memory=lambda: exactly_17) == []
    with pytest.raises(
        PinnrunError,
        match=r"^18 rank\(s\) on this host need about .* but it has .* available: "
        r"each rank 220.0 MiB for TensorFlow and Horovod \(measured idle\) "
        r"\+ about .* for training \(.*\); at most 17 rank\(s\) fit; "
        r"lower \S+ or use more hosts$",
    ):
        check_plan_memory(spec, LaunchPlan(18, local, "mpirun", "mpi"), parsed, memory=lambda: exactly_17)
    remote = [Host(name="n1", slots=32)]
    notes = check_plan_memory(spec, LaunchPlan(18, remote, "horovodrun", "gloo"), parsed, memory=lambda: exactly_17)
    assert len(notes) == 1 and "remote hosts are not checked" in notes[0]
    assert check_plan_memory(spec, LaunchPlan(18, local, "mpirun", "mpi"), parsed, memory=lambda: None) == []


def test_mild_oversubscription_is_a_note_and_more_than_a_host_can_hold_is_refused() -> None:
    cores = len(os.sched_getaffinity(0))
    p = plan(np=cores + 2)
    assert p.notes == [f"{cores + 2} ranks on {cores} core(s): oversubscribed, timings will suffer"]
    with pytest.raises(PinnrunError, match="at most 4096 ranks run on one host"):
        plan(np=5000)


def test_variables_a_shell_cannot_export_are_noted_and_left_out() -> None:
    from pinnrun.launch.command import shell_safe_environment

    environ = {"PATH": "/bin", "K;touch x;Z": "1", "a.b": "2", "_OK1": "3"}
    assert shell_safe_environment(environ) == {"PATH": "/bin", "_OK1": "3"}
    assert plan(np=2, environ=environ).notes == [
        "not passed to the ranks (not shell variable names): 'K;touch x;Z', 'a.b'"
    ]


def test_horovodrun_refuses_a_working_folder_its_remote_shell_would_misread(tmp_path: Path, monkeypatch) -> None:
    odd = tmp_path / "a;touch x"
    odd.mkdir()
    monkeypatch.chdir(odd)
    remote = plan(hosts=[Host(name="n1", slots=2)])
    with pytest.raises(
        PinnrunError,
        match=r"horovodrun would run `cd .*a;touch x` unquoted on the remote hosts "
        r"\(' ' ';' would be read",
    ):
        build_command(remote, RUN)
    assert build_command(plan(np=2, launcher="horovodrun"), RUN)[1:3] == ["-np", "2"]  # local: no remote shell


def test_gpus_alone_starts_one_rank_per_gpu_here() -> None:
    assert plan(gpus=True, gpu_count=lambda: 4).ranks == 4
    p = plan(gpus=True, gpu_count=lambda: 0)
    assert p.ranks == 1 and any("CPU rank" in n for n in p.notes), p.notes
    assert plan(np=3, gpus=True, gpu_count=lambda: 4).ranks == 3  # --np counts, --gpus places


def test_this_hosts_gpus_are_counted_once() -> None:
    """nvidia-smi once per launch, whether the count gives the ranks, the notes or both."""
    calls = []
    for kwargs in ({}, {"np": 2}, {"hosts": parse_hosts("localhost:2")}):
        calls.clear()
        plan(gpus=True, gpu_count=lambda: calls.append(1) or 1, **kwargs)
        assert len(calls) == 1, kwargs
    plan(gpus=True, gpu_count=lambda: calls.append(1) or 1, hosts=parse_hosts("h1:2"))
    assert len(calls) == 1  # another host's GPUs are never counted here


def test_gpus_without_gpu_runs_cpu_ranks() -> None:
    p = plan(np=2, gpus=True, gpu_count=lambda: 0)
    assert p.ranks == 2
    assert any("CPU rank" in n for n in p.notes), p.notes


def test_gpus_fewer_than_ranks_are_shared() -> None:
    p = plan(np=2, gpus=True, gpu_count=lambda: 1)
    assert any("share 1 GPU" in n for n in p.notes), p.notes
    assert plan(np=2, gpus=True, gpu_count=lambda: 2).notes == []


def test_gpus_on_remote_hosts_come_from_the_host_list() -> None:
    # no local nvidia-smi query for remote hosts (no_gpu_lookup would fail)
    hosts = [Host(name="n1", slots=2, gpus=2), Host(name="n2", slots=2, gpus=2)]
    p = plan(gpus=True, hosts=hosts)
    assert p.ranks == 4 and p.notes == []
    p = plan(np=3, gpus=True, hosts=[Host(name="n1", slots=2, gpus=1), Host(name="n2", slots=2, gpus=0)])
    assert p.notes == ["no GPU on n2: CPU ranks there", "n1: 2 ranks share 1 GPU(s)"]


def test_a_bare_host_list_says_its_gpus_are_unknown_not_absent() -> None:
    """`--hosts h1:2,h2:2 --gpus` used to print 'no GPU found' from the launching machine."""
    p = plan(np=3, gpus=True, hosts=parse_hosts("h1:2,h2:2,h3:2"))
    assert p.notes == [
        "GPUs of h1, h2 not known here (give `gpus:` per host in a cluster spec): each rank takes "
        "its host's GPU by local rank if it has one, else runs on CPU"
    ]  # h3 gets no rank


def test_mpirun_across_hosts_is_told_the_network_found_and_a_given_interface_wins() -> None:
    hosts = [Host(name="n1"), Host(name="n2")]
    found = plan(np=2, hosts=hosts, launcher="mpirun", network_of=lambda names: Network("eth3", "10.1.0.0/16"))
    cmd = build_command(found, RUN, is_root=False)
    assert cmd[cmd.index("btl_tcp_if_include") + 1] == cmd[cmd.index("oob_tcp_if_include") + 1] == "10.1.0.0/16"
    given = plan(
        np=2, hosts=hosts, cluster=Cluster(launcher="mpirun", network_interface="ib0"), network_of=no_network_lookup
    )
    assert build_command(given, RUN, is_root=False).count("ib0") == 2
    none = plan(np=2, hosts=hosts, launcher="mpirun", network_of=lambda names: None)
    assert "btl_tcp_if_include" not in build_command(none, RUN, is_root=False)
    assert plan(np=2, launcher="mpirun", network_of=no_network_lookup).network is None  # this host only


def no_network_lookup(names):
    raise AssertionError("the network must not be looked up here")


def test_the_cluster_network_is_the_local_range_holding_every_other_host(monkeypatch) -> None:
    from ipaddress import IPv4Interface

    from pinnrun.launch import network

    monkeypatch.setattr(
        network,
        "local_networks",
        lambda: {
            "lo": [IPv4Interface("127.0.0.1/8")],
            "docker0": [IPv4Interface("172.17.0.1/16")],
            "eth0": [IPv4Interface("10.77.0.11/24")],
        },
    )
    table = {"a": ["10.77.0.11"], "b": ["10.77.0.12"], "c": ["10.77.0.13"], "far": ["10.9.0.5"], "x": []}
    monkeypatch.setattr(network, "host_addresses", lambda name: table[name])
    monkeypatch.setattr(network, "source_address", lambda destination: "10.77.0.11")
    assert network.cluster_network(["a", "b", "c"]) == network.Network("eth0", "10.77.0.0/24")
    assert network.cluster_network(["a"]) is None  # this host alone
    assert network.cluster_network(["b", "far"]) is None  # routed: several networks
    assert network.cluster_network(["b", "x"]) is None  # a name that does not resolve


def test_a_host_s_own_name_on_debian_s_loopback_line_is_not_its_address() -> None:
    from pinnrun.launch.network import host_addresses

    assert host_addresses("localhost") == []
    assert host_addresses("no-such-host.invalid") == []


# --------------------------------------------------------------------------
# SLURM
# --------------------------------------------------------------------------

SLURM = {"SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "node[01-02]", "SLURM_TASKS_PER_NODE": "2(x2)"}


def test_slurm_allocation() -> None:
    p = plan(environ=SLURM)
    assert [(h.name, h.slots) for h in p.hosts] == [("node01", 2), ("node02", 2)]
    assert p.ranks == 4
    assert any("node01:2, node02:2" in n for n in p.notes)
    assert build_command(p, RUN)[1:5] == ["-np", "4", "-H", "node01:2,node02:2"]


def test_slurm_ignored_when_hosts_given() -> None:
    p = plan(np=2, hosts=parse_hosts("h1:2"), environ=SLURM)
    assert [h.name for h in p.hosts] == ["h1"]


@pytest.mark.parametrize(
    "environ,message",
    [
        ({"SLURM_JOB_NODELIST": "n[1-999999999]"}, "more than 65,536 hosts"),
        ({"SLURM_JOB_NODELIST": "n[a-b]"}, "'a-b' is not N or N-M"),
        ({"SLURM_JOB_NODELIST": "n1", "SLURM_TASKS_PER_NODE": "1(x999999999)"}, "more than 65,536 hosts"),
        ({"SLURM_JOB_NODELIST": "-oProxyCommand=x"}, "host '-oProxyCommand=x': name: not a host name"),
        ({"SLURM_JOB_NODELIST": "n1", "SLURM_TASKS_PER_NODE": "99999"}, "host 'n1': slots: input should be less"),
        ({"SLURM_JOB_NODELIST": "n1", "SLURM_NTASKS_PER_NODE": "x"}, "SLURM_NTASKS_PER_NODE='x': not a count"),
        ({"SLURM_JOB_NODELIST": "n1", "SLURM_GPUS_ON_NODE": "1e9"}, "SLURM_GPUS_ON_NODE='1e9': not a count"),
    ],
)
def test_a_malformed_slurm_allocation_is_one_line(environ: dict, message: str) -> None:
    with pytest.raises(PinnrunError, match=re.escape(message)):
        slurm_hosts(environ)


def test_slurm_hosts_outside_allocation_and_fallback() -> None:
    assert slurm_hosts({}) is None
    hosts = slurm_hosts(
        {
            "SLURM_NODELIST": "a[1-3]",
            "SLURM_TASKS_PER_NODE": "garbage",
            "SLURM_NTASKS_PER_NODE": "4",
            "SLURM_GPUS_ON_NODE": "2",
        }
    )
    assert [(h.name, h.slots, h.gpus) for h in hosts] == [("a1", 4, 2), ("a2", 4, 2), ("a3", 4, 2)]


@pytest.mark.parametrize(
    "text,names",
    [
        ("a[1-3,7],b5", ["a1", "a2", "a3", "a7", "b5"]),
        ("gpu[08-10]", ["gpu08", "gpu09", "gpu10"]),
        ("gpu[8-10]", ["gpu8", "gpu9", "gpu10"]),
        ("single", ["single"]),
        ("x1,x2", ["x1", "x2"]),
        ("n[1],m[01-02,5]", ["n1", "m01", "m02", "m5"]),
    ],
)
def test_expand_nodelist(text: str, names: list[str]) -> None:
    assert expand_nodelist(text) == names


@pytest.mark.parametrize(
    "text,counts",
    [
        ("2(x3),1", [2, 2, 2, 1]),
        ("4", [4]),
        ("1,2(x2)", [1, 2, 2]),
    ],
)
def test_expand_tasks_per_node(text: str, counts: list[int]) -> None:
    assert expand_tasks_per_node(text) == counts


# --------------------------------------------------------------------------
# cluster spec files
# --------------------------------------------------------------------------

CLUSTER = """\
# two nodes
hosts:
  - {name: node1, slots: 4, gpus: 4}
  - {name: node2, slots: 4, gpus: 4}
launcher: mpirun
controller: mpi
network_interface: eth0
ssh_port: 2222
env: {NCCL_DEBUG: INFO, OMP_NUM_THREADS: 4}
"""


def write(tmp_path: Path, text: str, name: str = "cluster.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def cluster_error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_cluster(path)
    return info.value


def test_cluster_spec_loads(tmp_path: Path) -> None:
    c = load_cluster(write(tmp_path, CLUSTER))
    assert c.hosts == [Host(name="node1", slots=4, gpus=4), Host(name="node2", slots=4, gpus=4)]
    assert (c.launcher, c.controller, c.network_interface, c.ssh_port) == ("mpirun", "mpi", "eth0", 2222)
    assert c.env == {"NCCL_DEBUG": "INFO", "OMP_NUM_THREADS": 4}


def test_empty_cluster_spec_is_defaults(tmp_path: Path) -> None:
    assert load_cluster(write(tmp_path, "# nothing\n")) == Cluster()


def test_cluster_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER + "colour: red\n")
    err = cluster_error(path)
    assert (err.line, err.field) == (10, "colour")
    assert str(err).startswith(f"{path}:10: colour: unknown key 'colour'")
    assert "launcher" in str(err) and "hosts" in str(err)


def test_cluster_bad_launcher(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER.replace("launcher: mpirun", "launcher: pdsh"))
    err = cluster_error(path)
    assert (err.line, err.field) == (5, "launcher")
    assert "'pdsh'" in str(err) and "srun" in str(err)


def test_cluster_duplicate_host(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER.replace("name: node2", "name: node1"))
    err = cluster_error(path)
    assert (err.line, err.field) == (4, "hosts[1].name")
    assert "host 'node1' listed twice" in str(err)


def test_cluster_bad_slots_and_port(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER.replace("{name: node2, slots: 4", "{name: node2, slots: 0"))
    assert (cluster_error(path).line, cluster_error(path).field) == (4, "hosts[1].slots")
    path = write(tmp_path, CLUSTER.replace("2222", "70000"))
    assert (cluster_error(path).line, cluster_error(path).field) == (8, "ssh_port")


@pytest.mark.parametrize(
    "line,field,message",
    [
        ("network_interface: eth0,ib0", None, None),
        ("network_interface: bond0.100", None, None),
        ("network_interface: abcdefghijklmnop", "network_interface", "not a network interface name: 1-15"),
        ("network_interface: -eth0", "network_interface", "not starting with '-'"),
        ("network_interface: 'eth0 ib0'", "network_interface", "not a network interface name"),
        ("env: {HOROVOD_RANK: 0}", "env.HOROVOD_RANK", "set by the launcher for each rank"),
        ("env: {OMPI_COMM_WORLD_SIZE: 2}", "env.OMPI_COMM_WORLD_SIZE", "set by the launcher for each rank"),
        ("env: {HOROVOD_CYCLE_TIME: 1, _X9: x}", None, None),
        ("env: {X: null}", "env.X", "input should be a valid string"),
        ("env: {X: [1]}", "env.X", "input should be a valid string"),
        ("env: {X: .inf}", "env.X", None),
        ("env: {X: false}", "env.X", "a boolean is not a value"),
        (f"env: {{X{'x' * 255}: 1}}", f"env.X{'x' * 255}", "a variable name has at most 255 characters (got 256)"),
        (f"env: {{X: {'v' * 4097}}}", "env.X", "a value has at most 4096 characters (got 4,097)"),
        (
            "env: {" + ", ".join(f"X{i}: {'v' * 4000}" for i in range(9)) + "}",
            "env",
            "36,036 characters of NAME=value in all, at most 32,768: horovodrun passes the whole environment",
        ),
        ("hosts: [{name: n1, slots: true}]", "hosts[0].slots", "a boolean is not a number"),
        ("hosts: [{name: n1, gpus: 5000}]", "hosts[0].gpus", "less than or equal to 4096"),
        (f"hosts: [{{name: {'h' * 254}}}]", "hosts[0].name", "a host name has at most 253 characters (got 254)"),
    ],
)
def test_cluster_field_rules(tmp_path: Path, line: str, field: str | None, message: str | None) -> None:
    path = write(tmp_path, f"# a comment\n{line}\n")
    if field is None:
        load_cluster(path)
        return
    err = cluster_error(path)
    assert (err.line, err.field) == (2, field), str(err)
    assert message is None or message in err.message, err.message


def test_cluster_that_is_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, "- node1\n- node2\n")
    err = cluster_error(path)
    assert err.line == 1 and "must be a YAML mapping" in str(err)


# --------------------------------------------------------------------------
# run folders
# --------------------------------------------------------------------------


def test_new_run_dir_refuses_non_empty_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    with pytest.raises(PinnrunError, match="not empty"):
        new_run_dir(str(out), "poisson1d")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "earlier results"


def test_new_run_dir_refuses_a_file(tmp_path: Path) -> None:
    out = tmp_path / "file"
    out.write_text("x")
    with pytest.raises(PinnrunError):
        new_run_dir(str(out), "poisson1d")
    assert out.read_text() == "x"


def test_new_run_dir_accepts_new_or_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert new_run_dir(str(empty), "p") == empty.resolve()
    fresh = tmp_path / "a" / "b"
    assert new_run_dir(str(fresh), "p") == fresh.resolve() and fresh.is_dir()


def test_new_run_dir_default_never_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pinnrun.results.run_folder as run_folder

    monkeypatch.setattr(run_folder.time, "strftime", lambda fmt: "20240102-030405")  # same second
    root = tmp_path / "runs"
    first = new_run_dir(None, "poisson1d", root=str(root))
    second = new_run_dir(None, "poisson1d", root=str(root))
    assert first == (root / "poisson1d-20240102-030405").resolve()
    assert second == (root / "poisson1d-20240102-030405-1").resolve()
    assert first.is_dir() and second.is_dir()


# --------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------


def pinnrun(*args: str, cwd: Path, slurm: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`pinnrun ARGS` outside any allocation, or inside the one `slurm` describes."""
    exe = Path(sys.executable).parent / "pinnrun"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pinnrun.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")} | (slurm or {})
    return subprocess.run(cmd + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def command_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if "pinnrun.worker" in line]
    assert len(lines) == 1, stdout
    return lines[0]


def assert_local_mpirun_line(line: str) -> None:
    """The printed command, read back as a shell would: every flag of a 2-rank local mpirun."""
    words = shlex.split(line)
    launcher = [
        "HOROVOD_CYCLE_TIME=0.1",
        *MPIRUN_2_LOCAL,
        *(["--allow-run-as-root"] if os.geteuid() == 0 else []),
        *EXPORTED,
        "-x",
        "HOROVOD_CYCLE_TIME",
    ]
    assert words[: len(launcher)] == launcher, line
    python, *worker = words[len(launcher) :]
    assert Path(python).name.startswith("python") and Path(python).is_file(), line
    assert worker == ["-m", "pinnrun.worker", "runs/poisson1d-<timestamp>"], line


@pytest.mark.slow
def test_cli_dry_run_prints_command_and_creates_nothing(tmp_path: Path) -> None:
    proc = pinnrun("train", str(POISSON), "--np", "2", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_local_mpirun_line(command_line(proc.stdout))
    assert list(tmp_path.iterdir()) == []  # no runs/ folder, nothing at all


@pytest.mark.slow
def test_cli_dry_run_with_cluster(tmp_path: Path) -> None:
    write(
        tmp_path,
        "hosts:\n  - {name: n1, slots: 2}\n  - {name: n2, slots: 2}\n"
        "env: {NCCL_DEBUG: INFO}\nnetwork_interface: eth0\n",
    )
    proc = pinnrun("train", str(POISSON), "--cluster", "cluster.yaml", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = command_line(proc.stdout)
    env, horovodrun, *flags, python, m, worker, run_dir = shlex.split(line)
    assert (env, Path(horovodrun).name, Path(python).name[:6]) == ("NCCL_DEBUG=INFO", "horovodrun", "python"), line
    assert flags == ["-np", "4", "-H", "n1:2,n2:2", "--gloo", "--network-interface", "eth0"], line
    assert [m, worker, run_dir] == ["-m", "pinnrun.worker", "runs/poisson1d-<timestamp>"], line
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_cli_dry_run_mpirun(tmp_path: Path) -> None:
    proc = pinnrun("train", str(POISSON), "--np", "2", "--launcher", "mpirun", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_local_mpirun_line(command_line(proc.stdout))
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_cli_dry_run_srun_inside_an_allocation(tmp_path: Path) -> None:
    """The exact command: the environment in front, then srun's flags, read back as a shell would."""
    proc = pinnrun("train", str(POISSON), "--launcher", "srun", "--dry-run", cwd=tmp_path, slurm=ALLOCATION)
    assert proc.returncode == 0, proc.stderr
    assert "note: SLURM allocation: n1:2, n2:2" in proc.stdout
    words = shlex.split(command_line(proc.stdout))
    # n1 and n2 do not resolve here, so no network is named (on the test cluster: tests/test_slurm.py)
    assert words[:10] == [
        "OMPI_MCA_pml=ob1",
        "OMPI_MCA_btl=^openib",
        "srun",
        "--ntasks=4",
        "--nodes=2",
        "--nodelist=n1,n2",
        *SRUN_FLAGS,
    ], words
    assert Path(words[10]).name.startswith("python") and words[11:] == [
        "-m",
        "pinnrun.worker",
        "runs/poisson1d-<timestamp>",
    ], words
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_cli_out_not_empty_fails_before_launch(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    before = (out / "keep.txt").stat().st_mtime_ns
    # srun is the launcher and no training steps are asked for, so even if the
    # check were missing nothing could train; the error must come before any launch.
    proc = pinnrun(
        "train",
        str(POISSON),
        "--np",
        "1",
        "--launcher",
        "srun",
        "--out",
        str(out),
        "--set",
        "training.adam.steps=0",
        "--set",
        "training.lbfgs.steps=0",
        cwd=tmp_path,
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --out {out}: "), proc.stderr
    assert "not empty" in lines[0]
    assert "srun" not in proc.stdout  # the command was never printed/launched
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "earlier results"
    assert (out / "keep.txt").stat().st_mtime_ns == before
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_cli_bad_host_name_is_one_line(tmp_path: Path) -> None:
    proc = pinnrun("train", str(POISSON), "--hosts", "bad host:2", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: --hosts")


# --------------------------------------------------------------------------
# pinnrun's local Gloo launcher
# --------------------------------------------------------------------------


def gloo_local(np_: int, code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pinnrun.launch.gloo_local", str(np_), sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_local_gloo_ranks_form_one_horovod_job() -> None:
    pytest.importorskip("horovod.tensorflow")
    code = (
        "import horovod.tensorflow as hvd, tensorflow as tf; hvd.init(); "
        "print(hvd.rank(), hvd.size(), hvd.local_rank(), float(hvd.allreduce(tf.constant(hvd.rank() + 1.0), "
        "op=hvd.Sum)))"
    )
    proc = gloo_local(2, code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = sorted(line for line in proc.stdout.splitlines() if "<stdout>" in line)
    assert lines == ["[0]<stdout>:0 2 0 3.0", "[1]<stdout>:1 2 1 3.0"]


@pytest.mark.slow
def test_local_gloo_stops_the_job_when_one_rank_fails() -> None:
    code = "import os, sys, time\nif os.environ['HOROVOD_RANK'] == '1': sys.exit(3)\ntime.sleep(100)"
    started = time.monotonic()
    proc = gloo_local(2, code, timeout=60)
    assert proc.returncode == 3
    assert time.monotonic() - started < 30  # rank 0 was stopped, not waited for


def test_ranks_fill_only_the_slots_they_need() -> None:
    """horovodrun 0.28.1 starts a rank on every slot of -H whatever -np says: `scale --sweep 1,2,3
    --hosts a:1,b:1,c:1` ran 3 ranks at every size until the list was cut to the ranks."""
    hosts = parse_hosts("a:1,b:2,c:1")
    for launcher in ("horovodrun", "mpirun"):
        for np_, listed in ((1, "a:1"), (2, "a:1,b:1"), (3, "a:1,b:2"), (4, "a:1,b:2,c:1")):
            cmd = build_command(plan(np=np_, hosts=hosts, launcher=launcher, network_of=lambda names: None), RUN)
            assert cmd[cmd.index("-H") + 1] == listed, (launcher, np_)


def test_mpirun_exports_ld_library_path_only_when_it_is_set(monkeypatch):
    """mpirun's `Warning: could not find environment variable "LD_LIBRARY_PATH"` headed every
    failure's excerpt when it was exported unset."""
    from pinnrun.launch.command import exported

    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    assert exported() == ["PATH", "PYTHONUNBUFFERED", "TF_CPP_MIN_LOG_LEVEL"]
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/lib")
    assert exported() == ["PATH", "LD_LIBRARY_PATH", "PYTHONUNBUFFERED", "TF_CPP_MIN_LOG_LEVEL"]
