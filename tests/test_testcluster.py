"""The test cluster's own promises: its traffic stays on its private network, and teardown runs
after a failed test and after Ctrl-C, leaving no namespace and no process behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from cluster import cluster, testcluster  # noqa: F401  (the fixture)
from helpers import ROOT

pytestmark = pytest.mark.slow

MODULE = f"""
import sys, time
sys.path.insert(0, {str(ROOT / "tests")!r})
from cluster import cluster  # noqa: F401

def test_uses_the_cluster(cluster):
    open({{marker!r}}, "w").write(cluster.switch)
    {{body}}
"""


def namespaces() -> set[str]:
    return set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())


def _default_sigint() -> None:
    """A shell's background job (`cmd &`) starts with SIGINT ignored, its children too, and Python
    then raises no KeyboardInterrupt: the child pytest would sleep through the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_module(tmp_path: Path, body: str, interrupt: bool) -> tuple[str, subprocess.CompletedProcess | None]:
    marker = tmp_path / "switch"
    (tmp_path / "test_module.py").write_text(MODULE.format(marker=str(marker), body=body))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_module.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else "slow"
        time.sleep(0.2)
    switch = marker.read_text()
    if interrupt:  # the cluster is up while the test sleeps
        assert any(ns.startswith(switch.removesuffix("-switch")) for ns in namespaces())
        proc.send_signal(signal.SIGINT)
    # teardown stops sshd, munge and slurm in every namespace: over 60 s once in a loaded CI run
    proc.communicate(timeout=180)
    return switch, proc


@pytest.mark.parametrize("how", ["a failed test", "Ctrl-C"])
def test_teardown_always_runs(tmp_path, how):
    if testcluster.missing_requirements():
        pytest.skip(testcluster.missing_requirements())
    switch, proc = run_module(
        tmp_path, "assert False" if how == "a failed test" else "time.sleep(60)", interrupt=how == "Ctrl-C"
    )
    assert proc.returncode != 0
    tag = switch.removesuffix("-switch")
    assert not [ns for ns in namespaces() if ns.startswith(tag)]
    states = [
        state
        for state in Path(tempfile.gettempdir()).glob("pinnrun-testcluster-*")
        if (state / "cluster.json").is_file() and switch in (state / "cluster.json").read_text(errors="replace")
    ]
    assert states == []  # the state folder (keys, configs, logs) is gone too


def test_the_machine_s_own_network_is_untouched(cluster):  # noqa: F811
    """No interface, address or route of the cluster's appears in the machine's own namespace,
    and a host reaches no address outside the cluster's network."""
    ours = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert testcluster.SUBNET not in ours
    routes = cluster.run("a", ["ip", "route"]).stdout
    assert "default" not in routes  # nowhere to go but the cluster's own networks
    assert cluster.run("a", ["ssh", "b", "hostname"]).stdout.strip() == "b"
