"""The cluster spec: where ranks run and how they are started.

    hosts:
      - {name: node1, slots: 4, gpus: 4}
      - {name: node2, slots: 4, gpus: 4}
    launcher: horovodrun        # horovodrun | mpirun | srun
    controller: gloo            # horovodrun, and ranks on this host: gloo | mpi
    network_interface: eth0
    ssh_port: 22
    env: {NCCL_DEBUG: INFO}

Every value here ends up on a launcher's command line, and horovodrun and
mpirun join parts of it into shell command lines without quoting (host names,
interface names, variable names). So those are held to plain names; variable
values may hold anything printable, and pinnrun's commands quote them.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, field_validator

from pinnrun.spec.loader import validate_model
from pinnrun.spec.schema import Int, PositiveInt, Strict
from pinnrun.spec.yaml_lines import load_located_file

# Host names: RFC 1123 letters, digits, '-' and '.', plus '_' (seen in /etc/hosts); never a
# leading '-' (mpirun, ssh and horovodrun would read `-oProxyCommand=...` as an option) or '.'.
HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
MAX_HOST_NAME = 253  # a DNS name's limit
MAX_SLOTS = 4096  # ranks on one host; the largest nodes have ~512 cores
MAX_HOSTS = 65_536  # the largest clusters have ~10^4-10^5 nodes
# Linux interface names: 1-15 bytes (IFNAMSIZ 16 with the NUL), no '/', ':' or space; we
# allow the usual subset (eth0, enp3s0f1, ib0, bond0.100, br-1a2b) and, as horovodrun does,
# several separated by commas. horovodrun puts them unquoted into shell commands.
INTERFACE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,14}")
# Variables: POSIX names, the only ones a shell can export. horovodrun writes `NAME=value`
# for every variable into the shell command that starts each rank, names unquoted.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_ENV_NAME = 255
MAX_ENV_VALUE = 4096
# horovodrun (Gloo) starts each rank with one `sh -c` command line holding the whole
# environment; Linux caps one argument at 128 KiB (MAX_ARG_STRLEN), and the user's own
# environment needs room too. Measured: a 140,000-byte environment makes horovodrun fail.
MAX_ENV_BYTES = 32 * 1024
# Set per rank by the launcher (Horovod's rendezvous, Open MPI, PMI): a cluster spec that set
# them would give every rank the same identity and the job would hang or fail.
RESERVED_ENV = re.compile(
    r"HOROVOD_(RANK|SIZE|LOCAL_RANK|LOCAL_SIZE|CROSS_RANK|CROSS_SIZE|HOSTNAME"
    r"|GLOO_RENDEZVOUS_ADDR|GLOO_RENDEZVOUS_PORT|GLOO_IFACE|CONTROLLER|SECRET_KEY)"
    r"|OMPI_COMM_WORLD_\w*|PMI_\w*|PMIX_\w*"
)
# What a terminal would not show as itself (controls, tab and newline included, format characters such
# as bidi overrides): `--dry-run` and run.json show the command as one line that says exactly what runs.
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def check_host_name(name: str) -> str:
    if len(name) > MAX_HOST_NAME:
        raise ValueError(f"a host name has at most {MAX_HOST_NAME} characters (got {len(name)})")
    if not HOST_NAME.fullmatch(name):
        raise ValueError("not a host name: letters, digits, '_', '.' and '-' only, not starting with '-' or '.'")
    return name


def check_network_interface(text: str) -> str:
    for name in text.split(","):
        if not INTERFACE_NAME.fullmatch(name):
            raise ValueError(
                "not a network interface name: 1-15 letters, digits, '_', '.' or '-', "
                "not starting with '-' or '.' (several: separated by commas)"
            )
    return text


def check_env_name(name: str) -> str:
    if len(name) > MAX_ENV_NAME:
        raise ValueError(f"a variable name has at most {MAX_ENV_NAME} characters (got {len(name)})")
    if not ENV_NAME.fullmatch(name):
        raise ValueError("not a variable name: letters, digits and '_', not starting with a digit")
    if RESERVED_ENV.fullmatch(name):
        raise ValueError("set by the launcher for each rank; a cluster spec cannot set it")
    return name


def check_env_value(value: str | int | float) -> str | int | float:
    if isinstance(value, bool):
        raise ValueError('a boolean is not a value: write it quoted, e.g. "true"')
    if isinstance(value, int) and abs(value) >= 10**MAX_ENV_VALUE:
        raise ValueError(f"a value has at most {MAX_ENV_VALUE} characters")
    if not isinstance(value, str):
        return value
    if len(value) > MAX_ENV_VALUE:
        raise ValueError(f"a value has at most {MAX_ENV_VALUE} characters (got {len(value):,})")
    for char in value:
        if unicodedata.category(char) in _HIDDEN_CATEGORIES:
            raise ValueError(
                f"control character U+{ord(char):04X} in the value: a value is one line of "
                "printable text (shell characters are fine, they are quoted)"
            )
    return value


HostName = Annotated[str, AfterValidator(check_host_name)]
EnvName = Annotated[str, AfterValidator(check_env_name)]
EnvValue = Annotated[str | int | float, BeforeValidator(check_env_value)]


class Host(Strict):
    name: HostName
    slots: PositiveInt = Field(1, le=MAX_SLOTS)
    gpus: Int | None = Field(None, ge=0, le=MAX_SLOTS)  # None: not known here (a bare --hosts list)


class Cluster(Strict):
    hosts: list[Host] = Field(default_factory=list, max_length=MAX_HOSTS)
    launcher: Literal["horovodrun", "mpirun", "srun"] = "horovodrun"
    controller: Literal["gloo", "mpi"] = "gloo"
    network_interface: Annotated[str, AfterValidator(check_network_interface)] | None = None
    ssh_port: Int | None = Field(None, ge=1, le=65535)
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _env_fits_one_command_line(cls, env: dict) -> dict:
        size = sum(len(k) + len(str(v)) + 2 for k, v in env.items())  # NAME=value and a separator
        if size > MAX_ENV_BYTES:
            raise ValueError(
                f"{size:,} characters of NAME=value in all, at most {MAX_ENV_BYTES:,}: horovodrun "
                "passes the whole environment in one command line, which Linux caps at 128 KiB"
            )
        return env


def load_cluster(path: str | Path) -> Cluster:
    located = load_located_file(path)
    if located.data is None:
        located.data = {}
    if not isinstance(located.data, dict):
        raise located.error((), "a cluster spec must be a YAML mapping")
    cluster = validate_model(Cluster, located)
    names = [h.name for h in cluster.hosts]
    seen = set()
    for i, name in enumerate(names):
        if name in seen:
            raise located.error(("hosts", i, "name"), f"host '{name}' listed twice")
        seen.add(name)
    return cluster


def parse_hosts(text: str) -> list[Host]:
    """`h1:2,h2:2` (slots after the colon, 1 if omitted); the same rules as a cluster spec's hosts."""
    from pinnrun.errors import PinnrunError

    hosts = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, colon, slots = item.partition(":")
        if colon and not (slots.isascii() and slots.isdigit() and len(slots) <= len(str(MAX_SLOTS))):
            raise PinnrunError(f"--hosts {text}: '{item}' is not HOST or HOST:SLOTS (SLOTS 1-{MAX_SLOTS})")
        try:
            host = Host(name=name, slots=int(slots or 1))
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            reason = first["msg"].removeprefix("Value error, ")
            raise PinnrunError(
                f"--hosts {text}: '{item}': {first['loc'][0]}: {reason[0].lower()}{reason[1:]}"
            ) from None
        if any(h.name == host.name for h in hosts):
            raise PinnrunError(f"--hosts {text}: host '{name}' listed twice")
        hosts.append(host)
    if not hosts:
        raise PinnrunError("--hosts: no hosts given")
    return hosts
