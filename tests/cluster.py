"""The test cluster as pytest fixtures: hosts a, b, c as network namespaces with sshd
(scripts/testcluster.py), for tests of what crosses a network.

Without root (or iproute2, util-linux, openssh-server) the tests skip with the reason; CI runs
as root and scripts/test.sh installs the packages. Teardown always runs: after a failed test,
and after Ctrl-C (pytest unwinds its fixtures); a cluster whose pytest was killed outright is
swept by the next bring-up (testcluster.sweep_stale).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import testcluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    reason = testcluster.missing_requirements()
    if reason:
        pytest.skip(reason)
    hosts = testcluster.up(3)
    try:
        yield hosts
    finally:
        testcluster.down(hosts)


@pytest.fixture(scope="module")
def slurm_cluster():
    """The same hosts with SLURM: munged, slurmctld on a, slurmd on a, b, c (scripts/testcluster_slurm.py).
    Client commands: testcluster_slurm.slurm_run(cluster, host, argv) or slurm_env(cluster)."""
    from testcluster_slurm import missing_slurm, start_slurm

    reason = testcluster.missing_requirements() or missing_slurm()
    if reason:
        pytest.skip(reason)
    hosts = testcluster.up(3)
    try:
        start_slurm(hosts)
        yield hosts
    finally:
        testcluster.down(hosts)
