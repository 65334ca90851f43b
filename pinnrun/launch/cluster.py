"""The cluster spec: where ranks run and how they are started.

    hosts:
      - {name: node1, slots: 4, gpus: 4}
      - {name: node2, slots: 4, gpus: 4}
    launcher: horovodrun        # horovodrun | mpirun | srun
    controller: gloo            # horovodrun, and ranks on this host: gloo | mpi
    network_interface: eth0
    ssh_port: 22
    env: {NCCL_DEBUG: INFO}
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt, ValidationError

from pinnrun.spec.loader import validate_model
from pinnrun.spec.schema import Strict
from pinnrun.spec.yaml_lines import load_located_file


class Host(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    slots: PositiveInt = 1
    gpus: int = Field(0, ge=0)


class Cluster(Strict):
    hosts: list[Host] = Field(default_factory=list)
    launcher: Literal["horovodrun", "mpirun", "srun"] = "horovodrun"
    controller: Literal["gloo", "mpi"] = "gloo"
    network_interface: str | None = None
    ssh_port: int | None = Field(None, ge=1, le=65535)
    env: dict[str, str | int | float] = Field(default_factory=dict)


def load_cluster(path: str | Path) -> Cluster:
    located = load_located_file(path)
    if located.data is None:
        located.data = {}
    if not isinstance(located.data, dict):
        raise located.error((), "a cluster spec must be a YAML mapping")
    cluster = validate_model(Cluster, located)
    names = [h.name for h in cluster.hosts]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise located.error(("hosts", i, "name"), f"host '{name}' listed twice")
    return cluster


def parse_hosts(text: str) -> list[Host]:
    """`h1:2,h2:2` (slots after the colon, 1 if omitted)."""
    from pinnrun.errors import PinnrunError

    hosts = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, colon, slots = item.partition(":")
        bad = PinnrunError(f"--hosts {text}: '{item}' is not HOST or HOST:SLOTS (SLOTS >= 1)")
        if colon and not slots.isdigit():
            raise bad
        try:
            host = Host(name=name, slots=int(slots or 1))
        except ValidationError:
            raise bad from None
        if any(h.name == host.name for h in hosts):
            raise PinnrunError(f"--hosts {text}: host '{name}' listed twice")
        hosts.append(host)
    if not hosts:
        raise PinnrunError("--hosts: no hosts given")
    return hosts
