"""`pinnrun train --elastic --min-np A --max-np B`: Horovod elastic over Gloo.

horovodrun starts up to B ranks on the hosts its discovery script lists and keeps the job
going while at least A are alive: a rank that dies makes the others roll back to their last
commit (every chunk) and continue on fewer; a host that is listed again, or whose failure
cooldown ran out, rejoins at the next commit. The script pinnrun writes prints the run
folder's `elastic/hosts` file (`host:slots` per line, from --hosts, the cluster spec, or this
host), which may be edited while the job runs to add or remove hosts.

Horovod blacklists the host of a rank that failed, and a job with every slot blacklisted ends:
on this one host pinnrun therefore lists it under two names, `localhost` and `127.0.0.1`, one
slot each (so one host gives at most 2 elastic ranks). A blacklisted host comes back after a
cooldown of 5 s, doubling on each failure up to 300 s.
"""

from __future__ import annotations

import os
from pathlib import Path

from pinnrun.errors import PinnrunError
from pinnrun.launch.cluster import Host
from pinnrun.launch.command import SHELL_PLAIN, LaunchPlan, _check_cwd_for_remote_horovodrun, _venv_tool, worker_command

FOLDER = "elastic"
COOLDOWN = ("5", "300")  # seconds: horovodrun --blacklist-cooldown-range
ELASTIC_TIMEOUT = 120  # default seconds to wait for --min-np ranks, at the start and after each loss
LOCAL_ELASTIC_HOSTS = [Host(name="localhost", slots=1), Host(name="127.0.0.1", slots=1)]


def elastic_hosts(hosts: list[Host] | None, max_np: int) -> list[Host]:
    """The hosts to list: those given, or this host under its two names."""
    if hosts:
        return hosts
    if max_np > len(LOCAL_ELASTIC_HOSTS):
        raise PinnrunError(
            f"--elastic on this host alone runs at most {len(LOCAL_ELASTIC_HOSTS)} ranks (--max-np "
            f"{max_np}): Horovod drops a failed rank's whole host, so each rank needs a host name "
            "of its own; give --hosts or a cluster spec"
        )
    return LOCAL_ELASTIC_HOSTS


def discovery_paths(run_dir: Path) -> tuple[Path, Path]:
    folder = Path(run_dir) / FOLDER
    return folder / "discover-hosts.sh", folder / "hosts"


def elastic_command(
    plan: LaunchPlan,
    run_dir: Path,
    min_np: int,
    max_np: int,
    timeout: int = ELASTIC_TIMEOUT,
    worker_args: tuple[str, ...] = (),
) -> list[str]:
    script, _ = discovery_paths(run_dir)
    if not SHELL_PLAIN.fullmatch(str(script)):  # horovodrun runs the script through a shell
        raise PinnrunError(
            f"--elastic: horovodrun runs {script} through a shell: use a run folder whose path has "
            "only letters, digits and _ . / + , : @ % = -"
        )
    _check_cwd_for_remote_horovodrun(plan.hosts)
    local = all(h.name in ("localhost", "127.0.0.1") for h in plan.hosts)
    cmd = [
        _venv_tool("horovodrun"),
        "-np",
        str(max_np),
        "--min-np",
        str(min_np),
        "--max-np",
        str(max_np),
        "--host-discovery-script",
        str(script),
        "--blacklist-cooldown-range",
        *COOLDOWN,
        "--elastic-timeout",
        str(timeout),
        "--gloo",
    ]
    interface = plan.network_interface or ("lo" if local else None)
    if interface:  # without it, horovodrun waits for two hosts to pick an interface
        cmd += ["--network-interface", interface]
    if plan.ssh_port:
        cmd += ["-p", str(plan.ssh_port)]
    return cmd + worker_command(run_dir, (*worker_args, "--elastic"))


def write_discovery(run_dir: Path, hosts: list[Host]) -> None:
    script, listed = discovery_paths(run_dir)
    script.parent.mkdir(exist_ok=True)
    listed.write_text("".join(f"{h.name}:{h.slots}\n" for h in hosts))
    # the path is shell-plain (checked above), so it needs no quoting inside the script either
    script.write_text(
        f"#!/bin/sh\n# hosts for horovodrun's elastic driver: edit {listed} to add or remove one\nexec cat {listed}\n"
    )
    os.chmod(script, 0o755)
