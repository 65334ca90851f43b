"""The network a multi-host job uses: an interface named in a cluster spec must exist where it is used."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from helpers import PROBLEMS


def train(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pinnrun.cli", "train", str(PROBLEMS / "burgers_soft.yaml"), *args, "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_horovodrun_refuses_an_interface_this_host_lacks_before_any_rank_starts(tmp_path):
    """horovodrun itself died with a KeyError traceback in get_driver_ip."""
    spec = tmp_path / "cluster.yaml"
    spec.write_text(yaml.safe_dump({"hosts": [{"name": "n1"}, {"name": "n2"}], "network_interface": "lo,nosuch0"}))
    proc = train("--cluster", spec)
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    assert proc.stderr.startswith("error: network_interface: nosuch0 is not an interface of this host (")
    assert len(proc.stderr.splitlines()) == 1
    # mpirun needs it only where ranks run (a login node may lack the compute nodes' ib0)
    assert train("--cluster", spec, "--launcher", "mpirun").returncode == 0
