"""`pinnrun doctor --hosts` (pinnrun/doctor/hosts.py and the doctor_* modules beside it).

The pieces first: ssh commands as argument lists, what an ssh failure means, a host's facts and
versions against this machine's, the reachability mesh, the all-reduce's verdict and the
launcher's telling line. Then whole runs: on this machine alone (localhost, no ssh), and on the
test cluster (hosts a, b, c; slow): all ok, a host whose cable is pulled, a network interface no
host has and an install missing on one host.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from cluster import cluster  # noqa: F401  (the fixture)
from pinnrun.doctor import hosts as doctor_hosts, jobs as doctor_jobs, remote as doctor_remote
from pinnrun.cli import main
from pinnrun.doctor.hosts import path_check, remote_facts, versions_check
from pinnrun.doctor.jobs import telling_line
from pinnrun.doctor.mesh import run_mesh
from pinnrun.doctor.remote import MARK, addresses_in, probe
from pinnrun.doctor.ssh import Ran, on_host, run_bounded, ssh_problem

PYTHON = sys.executable
INSTALL = str(Path(doctor_hosts.pinnrun.__file__).resolve().parent)


def ran(stdout: str = "", stderr: str = "", code: int | None = 0) -> Ran:
    return Ran(code, stdout, stderr, 0.1)


def facts_line(**changes) -> str:
    found = doctor_remote.facts(import_check=False) | changes
    return "some library's noise\n" + MARK + json.dumps(found) + "\n"


# --------------------------------------------------------------------------- ssh commands


def test_remote_words_are_quoted_one_by_one_and_never_read_as_options() -> None:
    words = [PYTHON, "-m", "x", "$(touch /tmp/MARK); `id` | a b", "it's"]
    argv = on_host("node-1", words, port=2222)
    assert argv[: argv.index("--")] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-p", "2222"]
    assert argv[argv.index("--") + 1] == "node-1"
    # ssh joins what follows the host with spaces for the remote shell: it must split back exactly
    remote_line = " ".join(argv[argv.index("--") + 2 :])
    assert shlex.split(remote_line) == words


def test_local_names_run_here_without_ssh() -> None:
    assert on_host("localhost", ["true"]) == ["true"]
    assert on_host("127.0.0.1", [PYTHON, "-V"], port=22) == [PYTHON, "-V"]


def test_ssh_failures_name_their_fix() -> None:
    cases = {
        "ssh: Could not resolve hostname nosuch: Name or service not known": "must resolve on this host",
        "root@b: Permission denied (publickey,password).": "ssh-copy-id b",
        "Host key verification failed.": "accept b's host key once",
        "ssh: connect to host b port 22: Connection refused": "start sshd on b",
        "ssh: connect to host b port 22: Connection timed out": "check that b is up",
        "ssh: connect to host b port 22: No route to host": "check that b is up",
        "kex_exchange_identification: something new": "ssh -v b true",
    }
    for stderr, fix_part in cases.items():
        detail, fix = ssh_problem("b", ran(stderr="warning: noise\n" + stderr, code=255), None, 10)
        assert detail == stderr and fix_part in fix, (stderr, fix)
    detail, fix = ssh_problem("b", ran(code=None), 2222, 10)
    assert detail == "ssh -p 2222 b: no answer in 10 s" and "check that b is up" in fix


@pytest.mark.slow
def test_run_bounded_stops_the_whole_group_at_its_limit(tmp_path: Path) -> None:
    mark = tmp_path / "child-survived"
    # the child outlives the shell unless the whole process group is stopped
    script = f"(sleep 1; touch {shlex.quote(str(mark))}) & sleep 30"
    started = time.monotonic()
    result = run_bounded(["sh", "-c", script], timeout=0.3)
    assert result.returncode is None and time.monotonic() - started < 5
    time.sleep(1.5)
    assert not mark.exists()


# --------------------------------------------------------------------------- facts and versions


def test_facts_report_this_install_from_package_metadata() -> None:
    found = doctor_remote.facts(import_check=False)
    assert found["hostname"] == socket.gethostname()
    assert found["executable"] == PYTHON and found["pinnrun_path"] == INSTALL
    assert found["versions"]["horovod"] == importlib.metadata.version("horovod")
    assert found["versions"]["mpi4py"] == importlib.metadata.version("mpi4py")
    assert found["open_mpi"].startswith("mpirun (Open MPI) ")
    assert any(addresses for addresses in found["networks"].values())


def test_remote_facts_are_found_among_other_lines_and_bad_json_is_no_facts() -> None:
    assert remote_facts(ran(facts_line()))["pinnrun_path"] == INSTALL
    assert remote_facts(ran(MARK + "{not json\n")) is None
    assert remote_facts(ran(MARK + "[1, 2]\n")) is None
    assert remote_facts(ran("no mark at all\n")) is None
    # mpirun --tag-output tags each write: a newline written apart got its own tag after the record
    assert remote_facts(ran("[1,0]<stdout>:" + MARK + '{"sum": 3}[1,0]<stdout>:\n')) == {"sum": 3}


def test_path_check_ok_and_each_way_it_fails() -> None:
    _, check = path_check("b", ran(facts_line()))
    assert check.status == "ok" and INSTALL in check.detail
    expect = {
        "moved": (ran(facts_line(pinnrun_path="/elsewhere/pinnrun")), "imported from /elsewhere/pinnrun there"),
        "import": (
            ran(facts_line(import_error="ImportError: libhorovod.so: cannot open")),
            "import pinnrun, horovod.tensorflow: ImportError: libhorovod.so",
        ),
        "no python": (
            ran(stderr=f"bash: line 1: {PYTHON}: No such file or directory", code=127),
            f"{PYTHON} does not exist there",
        ),
        "no pinnrun": (
            ran(
                stderr=f"{PYTHON}: Error while finding module specification for "
                "'pinnrun.doctor.remote' (ModuleNotFoundError: No module named 'pinnrun')",
                code=1,
            ),
            f"{PYTHON} there has no pinnrun",
        ),
        "hangs": (ran(code=None), "no answer in 45 s"),
    }
    for case, (result, detail) in expect.items():
        _, check = path_check("b", result)
        assert check.failed and detail in check.detail, (case, check)
        assert "b" in check.fix, (case, check.fix)
    _, check = path_check("b", ran(stderr="No such file or directory", code=127))
    assert "scripts/setup.sh" in check.fix and str(Path(INSTALL).parent) in check.fix


def test_versions_equal_are_ok_and_each_difference_is_named_with_here() -> None:
    here = doctor_remote.facts(import_check=False)
    check = versions_check("b", here, here)
    assert check.status == "ok" and f"Horovod {here['versions']['horovod']}" in check.detail
    other = json.loads(json.dumps(here))
    other["versions"]["horovod"] = "0.27.0"
    other["python"] = "3.11.2"
    check = versions_check("b", other, here)
    assert check.failed
    assert f"Python 3.11.2 (here {here['python']})" in check.detail
    assert f"Horovod 0.27.0 (here {here['versions']['horovod']})" in check.detail
    assert "TensorFlow" not in check.detail and "scripts/setup.sh" in check.fix
    mpi = json.loads(json.dumps(here)) | {"open_mpi": "not found on PATH"}
    check = versions_check("b", mpi, here)
    assert check.failed and "Open MPI not found on PATH" in check.detail and "openmpi-bin" in check.fix


# ------------------------------------------------------------------------------------ network


def test_addresses_on_a_range_or_on_interface_names() -> None:
    found = {"lo": ["127.0.0.1/8"], "eth0": ["10.77.0.12/24"], "docker0": ["172.17.0.1/16"]}
    assert addresses_in("10.77.0.0/24", found) == ["10.77.0.12"]
    assert addresses_in("eth0", found) == ["10.77.0.12"]
    assert addresses_in("ib0,docker0", found) == ["172.17.0.1"]
    assert addresses_in("ib0", found) == [] and addresses_in("192.168.0.0/16", found) == []


def test_probe_reads_the_listeners_token_or_says_why_not() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        threading.Thread(target=doctor_remote._serve, args=(listener, "tok3n"), daemon=True).start()
        assert probe("127.0.0.1", listener.getsockname()[1]) == "tok3n"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert probe("127.0.0.1", port).startswith("error: ")


def test_one_address_on_two_hosts_is_caught() -> None:
    """Two 'hosts' that are both this machine listen on the same loopback address: as docker0's
    172.17.0.1 on every node, neither can be reached by it."""
    mesh = run_mesh(["localhost", "127.0.0.1"], "127.0.0.0/8", PYTHON, None)
    assert mesh.shared_address == {"localhost", "127.0.0.1"}
    assert "its address 127.0.0.1 on 127.0.0.0/8 is" in mesh.problems_of("localhost")[0]


def test_a_network_a_host_lacks_is_named_with_what_it_has() -> None:
    mesh = run_mesh(["localhost"], "nosuch0", PYTHON, None)
    (problem,) = mesh.problems_of("localhost")
    assert mesh.no_address == {"localhost"}
    assert problem.startswith("no address on nosuch0 (this host has: ") and "lo 127.0.0.1/8" in problem


# --------------------------------------------------------------------------------- all-reduce


def answer(**record) -> list[str]:
    return [PYTHON, "-c", f"print('[1,0]<stdout>:' + {MARK!r} + {json.dumps(json.dumps(record))})"]


@pytest.mark.slow
def test_the_job_is_judged_by_its_sum_and_its_hosts() -> None:
    want = Counter({"a": 1, "b": 2})
    ok = doctor_jobs._judge("j", "mpirun", answer(size=3, sum=6, hosts=["a", "b", "b"]), {}, 10, want)
    assert ok.status == "ok" and ok.detail.startswith("mpirun: 3 ranks on a:1, b:2 summed to 6 in ")
    wrong_sum = doctor_jobs._judge("j", "mpirun", answer(size=3, sum=5, hosts=["a", "b", "b"]), {}, 10, want)
    assert wrong_sum.failed and "3 ranks summed to 5, expected 3 ranks and 6" in wrong_sum.detail
    wrong_hosts = doctor_jobs._judge("j", "mpirun", answer(size=3, sum=6, hosts=["a", "a", "b"]), {}, 10, want)
    assert wrong_hosts.failed and "ranks ran on a:2, b:1, expected a:1, b:2" in wrong_hosts.detail
    started = time.monotonic()
    hung = doctor_jobs._judge("j", "mpirun", [PYTHON, "-c", "import time; time.sleep(30)"], {}, 1, want)
    assert hung.failed and hung.detail == "mpirun: no result in 1 s" and time.monotonic() - started < 6
    assert "network_interface" in hung.fix and "import time" in hung.fix  # the command, to run by hand


# Real launcher outputs from the test cluster (network_interface nosuch0 and docker0).
OPEN_MPI_NO_INTERFACE = """\
--------------------------------------------------------------------------
None of the TCP networks specified to be included for out-of-band communications
could be found:

  Value given: nosuch0

Please revise the specification and try again.
--------------------------------------------------------------------------
--------------------------------------------------------------------------
No network interfaces were found for out-of-band communications. We require
at least one available network for out-of-band messaging.
--------------------------------------------------------------------------
"""
OPEN_MPI_TRAP = """\
------------------------------------------------------------
A process or daemon was unable to complete a TCP connection
to another process:
  Local host:    b
  Remote host:   a
------------------------------------------------------------
"""
HOROVODRUN_NO_INTERFACE = """\
2026-12-06 15:01:11.059743: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.
Traceback (most recent call last):
  File "/work/main/.venv/bin/horovodrun", line 6, in <module>
    sys.exit(run_commandline())
  File "/work/main/.venv/lib/python3.11/site-packages/horovod/runner/util/network.py", line 100, in get_driver_ip
    for addr in net_if_addrs()[iface]:
                ~~~~~~~~~~~~~~^^^^^^^
KeyError: 'nosuch0'
"""


def test_the_launchers_telling_line() -> None:
    assert telling_line(ran(stderr=OPEN_MPI_NO_INTERFACE, code=1)) == (
        "None of the TCP networks specified to be included for out-of-band communications could be found:"
    )
    assert telling_line(ran(stderr=OPEN_MPI_TRAP, code=1)) == (
        "A process or daemon was unable to complete a TCP connection to another process:"
    )
    assert telling_line(ran(stderr=HOROVODRUN_NO_INTERFACE, code=1)) == "KeyError: 'nosuch0'"
    gloo = "[1]<stderr>:[2026-12-06 15:00:57. 88075: E http_store.cc:96] HTTP GET request failed too many times\n"
    assert telling_line(ran(stdout="[1]<stdout>:starting\n" + gloo, code=1)).endswith(
        "HTTP GET request failed too many times"
    )
    assert telling_line(ran(stdout="one\nlast words\n", code=1)) == "last words"


# ------------------------------------------------------------------------------- command line


@pytest.mark.parametrize("hosts", ["-oProxyCommand=touch MARK", "a;b", "a:x", ","])
def test_bad_hosts_are_one_line_and_exit_2(hosts: str) -> None:
    result = CliRunner().invoke(main, ["doctor", "--hosts", hosts])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: --hosts")


def test_a_cluster_spec_without_hosts_is_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text("network_interface: eth0\n")
    result = CliRunner().invoke(main, ["doctor", "--cluster", str(spec)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {spec} names no hosts: give --hosts h1:2,h2:2 or hosts: in the cluster spec\n"


def doctor_run(argv: list[str], runner=subprocess.run, timeout: float = 150, **kwargs):
    """`pinnrun doctor ARGS` as a user runs it, wide enough that no line wraps."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")} | {"COLUMNS": "400"}
    return runner(
        [PYTHON, "-m", "pinnrun.cli", "doctor", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def rows(out: str) -> dict[tuple[str, str], str]:
    """(host, check) -> status from the hosts' table."""
    found, host = {}, None
    table = out[out.index("pinnrun doctor --") :]
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[2] in ("ok", "warning", "failed"):
            host = cells[0] or host
            found[(host, cells[1])] = cells[2]
    return found


@pytest.mark.slow
def test_this_machine_as_two_slots_of_localhost() -> None:
    """No ssh: the same install and versions, and both all-reduces on 2 local ranks."""
    proc = doctor_run(["--hosts", "localhost:2"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = rows(proc.stdout)
    assert set(table.values()) == {"ok"} and len(table) == 6, proc.stdout
    assert "mpirun: 2 ranks on " in proc.stdout and "All 1 host are ready." in proc.stdout


# ------------------------------------------------------------------------------- test cluster


def on_a(cluster, argv: list[str], timeout: float = 150):  # noqa: F811
    return doctor_run(argv, runner=lambda cmd, **kw: cluster.run("a", cmd, **kw), timeout=timeout)


@pytest.mark.slow
def test_cluster_all_checks_ok(cluster) -> None:  # noqa: F811
    proc = on_a(cluster, ["--hosts", "a:1,b:1,c:1"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = rows(proc.stdout)
    assert set(table.values()) == {"ok"}, proc.stdout
    checks = ("ssh", "path", "versions", "network")
    assert set(table) == {(h, c) for h in "abc" for c in checks} | {
        ("all hosts", "mpi4py all-reduce"),
        ("all hosts", "Horovod all-reduce"),
    }
    for host, address in (("a", "10.77.0.11"), ("b", "10.77.0.12"), ("c", "10.77.0.13")):
        assert f"{address} on 10.77.0.0/24 (eth0 here): reaches the 2 other hosts, and they reach it" in proc.stdout
    assert "mpirun: 3 ranks on a:1, b:1, c:1 summed to 6" in proc.stdout
    assert "horovodrun, gloo: 3 ranks on a:1, b:1, c:1 summed to 6" in proc.stdout
    assert "All 3 hosts are ready." in proc.stdout
    assert cluster.processes() == []


@pytest.mark.slow
def test_cluster_host_with_its_cable_pulled_and_one_that_does_not_exist(cluster) -> None:  # noqa: F811
    cluster.link("c", up=False)
    try:
        started = time.monotonic()
        proc = on_a(cluster, ["--hosts", "a:1,b:1,c:1,nosuch:1"])
        took = time.monotonic() - started
    finally:
        cluster.link("c", up=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        "  - c: ssh: ssh: connect to host c port 22: Connection timed out\n"
        "    fix: check that c is up and its network link works" in proc.stdout
    )
    # the resolver's own words differ (no DNS here: "Temporary failure in name resolution")
    assert re.search(
        r"  - nosuch: ssh: ssh: Could not resolve hostname nosuch: .*\n"
        r"    fix: check the name 'nosuch': it must resolve on this host",
        proc.stdout,
    )
    table = rows(proc.stdout)
    assert table[("c", "ssh")] == table[("nosuch", "ssh")] == "failed"
    assert ("c", "path") not in table and ("nosuch", "path") not in table
    assert table[("a", "network")] == table[("b", "network")] == "ok"  # a and b still reach each other
    assert table[("all hosts", "mpi4py all-reduce")] == "warning"
    assert "not run: c, nosuch failed a check above" in proc.stdout
    print(f"doctor with c unreachable: {took:.1f} s")
    assert took < 45  # ssh gives up on c after 5 s; the others' checks run meanwhile
    assert cluster.processes() == []


@pytest.mark.slow
def test_cluster_interface_no_host_has_and_install_missing_on_one_host(cluster, tmp_path: Path) -> None:  # noqa: F811
    spec = tmp_path / "cluster.yaml"
    spec.write_text("hosts: [{name: a}, {name: b}, {name: c}]\nnetwork_interface: nosuch0\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    venv = str(Path(PYTHON).parent.parent)
    # c's own mount namespace: the venv is gone there only, as on a node without the install
    hidden = cluster.run("c", ["mount", "--bind", str(empty), venv], timeout=10)
    assert hidden.returncode == 0, hidden.stderr
    try:
        proc = on_a(cluster, ["--cluster", str(spec)])
    finally:
        cluster.run("c", ["umount", venv], timeout=10)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    table = rows(proc.stdout)
    assert table[("c", "ssh")] == "ok" and table[("c", "path")] == "failed"
    assert f"  - c: path: {PYTHON} does not exist there\n    fix: give c this install at the same path" in proc.stdout
    for host in ("a", "b"):
        assert table[(host, "path")] == table[(host, "versions")] == "ok"
        assert re.search(
            rf"  - {host}: network: no address on nosuch0 \(this host has: .*eth0 10\.77\.0\.\d+/24.*\)\n"
            rf"    fix: name a network {host} has: network_interface in a cluster spec",
            proc.stdout,
        )
    assert cluster.processes() == []
