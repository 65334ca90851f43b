"""`pinnrun doctor --hosts h1:2,h2:2` / `--cluster cluster.yaml`: check every host a training would use.

Per host: ssh reaches it, the same install is there (this venv's python at the same path, pinnrun
from the same folder, `import pinnrun, horovod.tensorflow` works), the same versions as here, and
its address on the ranks' network takes connections from every other host. Then two live
all-reduces across all hosts (jobs.py). Each problem comes with its fix; every remote step
has a time limit, so a dead host costs seconds. The exit status is 1 if a required check failed.
"""

from __future__ import annotations

import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

import pinnrun
from pinnrun.doctor import local as doctor
from pinnrun.doctor.local import Check
from pinnrun.doctor.jobs import HOROVOD_CHECK, MPI_CHECK, horovod_allreduce, mpi_allreduce
from pinnrun.doctor.mesh import run_mesh
from pinnrun.doctor.remote import facts, read_marked
from pinnrun.doctor.ssh import Ran, on_host, run_bounded, ssh_problem
from pinnrun.errors import PinnrunError, one_line
from pinnrun.launch.cluster import Cluster, Host, load_cluster, parse_hosts
from pinnrun.launch.network import LOCAL_NAMES, cluster_network

SSH_TIMEOUT_S = 10  # ssh's ConnectTimeout (5 s) and a login
# One round trip that imports TensorFlow and Horovod: 4 s on an idle host of the test cluster.
FACTS_TIMEOUT_S = 45
MAX_PARALLEL = 32
# Shown in this order; the key is facts()'s.
VERSION_NAMES = {
    "python": "Python",
    "tensorflow": "TensorFlow",
    "horovod": "Horovod",
    "pinnrun": "pinnrun",
    "mpi4py": "mpi4py",
    "open_mpi": "Open MPI",
}


@dataclass
class HostReport:
    host: Host
    checks: list[Check] = field(default_factory=list)
    facts: dict | None = None

    def passed(self, *names: str) -> bool:
        """Each named check ran and did not fail."""
        done = {check.name: check for check in self.checks}
        return all(name in done and not done[name].failed for name in names)

    @property
    def reachable(self) -> bool:
        """ssh works and the install is there: what every later check runs through."""
        return self.passed("ssh", "path")


def targets(hosts_text: str | None, cluster_path: str | None) -> tuple[list[Host], Cluster]:
    """The hosts to check and the cluster spec they run under, as `pinnrun train` reads them."""
    cluster = load_cluster(cluster_path) if cluster_path else Cluster()
    hosts = parse_hosts(hosts_text) if hosts_text else list(cluster.hosts)
    if not hosts:
        raise PinnrunError(f"{cluster_path} names no hosts: give --hosts h1:2,h2:2 or hosts: in the cluster spec")
    return hosts, cluster


def run_doctor_hosts(hosts_text: str | None, cluster_path: str | None, console: Console) -> int:
    hosts, cluster = targets(hosts_text, cluster_path)
    with ThreadPoolExecutor(1) as other:
        # the hosts' ssh round trips wait on the network while this host imports TensorFlow
        remote = other.submit(check_hosts, hosts, cluster)
        local = doctor.collect()
        doctor.render(local, console)
        console.print()
        reports, jobs = remote.result()
    title = f"--hosts {hosts_text}" if hosts_text else f"--cluster {cluster_path}"
    render_hosts(reports, jobs, console, title)
    failed = (
        not doctor.all_required_present(local)
        or any(c.failed for r in reports for c in r.checks)
        or any(c.failed for c in jobs)
    )
    return 1 if failed else 0


# ------------------------------------------------------------------------------ checks


def check_hosts(hosts: list[Host], cluster: Cluster) -> tuple[list[HostReport], list[Check]]:
    reports = [HostReport(h) for h in hosts]
    port = cluster.ssh_port
    with ThreadPoolExecutor(MAX_PARALLEL) as pool:  # one host's ssh timeout does not hold up the others
        list(pool.map(lambda report: _reach(report, port), reports))
    here = facts(import_check=False)
    for report in reports:
        if report.facts is not None:
            report.checks.append(versions_check(report.host.name, report.facts, here))
    network_checks(reports, cluster)
    return reports, job_checks(reports, cluster)


def _reach(report: HostReport, port: int | None) -> None:
    """ssh, then (if it works) the host's facts in one more round trip."""
    report.checks.append(ssh_check(report.host.name, port))
    if report.passed("ssh"):
        report.facts, check = path_check(report.host.name, _facts_of(report.host.name, port))
        report.checks.append(check)


def ssh_check(host: str, port: int | None) -> Check:
    if host in LOCAL_NAMES:
        return Check("ssh", "ok", "this machine: no ssh needed")
    ran = run_bounded(on_host(host, ["true"], port), SSH_TIMEOUT_S)
    if ran.returncode == 0:
        return Check("ssh", "ok", f"ssh {host} true in {ran.seconds:.1f} s")
    detail, fix = ssh_problem(host, ran, port, SSH_TIMEOUT_S)
    return Check("ssh", "missing", detail, fix=fix)


def _facts_of(host: str, port: int | None) -> Ran:
    return run_bounded(on_host(host, [sys.executable, "-m", "pinnrun.doctor.remote", "facts"], port), FACTS_TIMEOUT_S)


def _install() -> str:
    return str(Path(pinnrun.__file__).resolve().parent)


def path_fix(host: str) -> str:
    where = Path(_install()).parent
    return (
        f"give {host} this install at the same path: {where} on a file system every host mounts, "
        f"or scripts/setup.sh run in a copy at {where} there"
    )


def remote_facts(ran: Ran) -> dict | None:
    return next(filter(None, map(read_marked, ran.stdout.splitlines())), None)


def path_check(host: str, ran: Ran) -> tuple[dict | None, Check]:
    """(the host's facts, the path check): this python, pinnrun from this folder, Horovod imports."""
    python = sys.executable
    fix = path_fix(host)
    found = remote_facts(ran)
    if found is None:
        said = [line.strip() for line in ran.stderr.splitlines() if line.strip()]
        last = said[-1] if said else ""
        if ran.returncode is None:
            detail = f"no answer in {FACTS_TIMEOUT_S} s from {python} -m pinnrun.doctor.remote facts"
            fix = f"run ssh {host} {python} -m pinnrun.doctor.remote facts to see where it stops"
        elif ran.returncode == 127 or "No such file or directory" in last:
            detail = f"{python} does not exist there"
        elif "No module named" in last:
            detail = f"{python} there has no pinnrun ({last})"
        else:
            detail = f"{python} -m pinnrun.doctor.remote facts exited {ran.returncode}: {last}"
        return None, Check("path", "missing", one_line(detail), fix=fix)
    there, here = found.get("pinnrun_path"), _install()
    if there != here:
        return found, Check("path", "missing", f"pinnrun is imported from {there} there, from {here} here", fix=fix)
    if found.get("import_error"):
        return found, Check(
            "path",
            "missing",
            one_line(f"import pinnrun, horovod.tensorflow: {found['import_error']}"),
            fix=f"{fix} (a Horovod that does not import there: {doctor._fix_rebuild_horovod()})",
        )
    return found, Check("path", "ok", f"{python}; pinnrun from {here}; horovod.tensorflow imports")


def versions_of(found: dict) -> dict[str, str | None]:
    versions = found.get("versions") or {}
    return {key: (found.get(key) if key in ("python", "open_mpi") else versions.get(key)) for key in VERSION_NAMES}


def versions_check(host: str, found: dict, here: dict) -> Check:
    theirs, ours = versions_of(found), versions_of(here)
    differ = [key for key in VERSION_NAMES if theirs[key] != ours[key]]
    if not differ:
        return Check("versions", "ok", ", ".join(f"{VERSION_NAMES[k]} {_short(ours[k])}" for k in VERSION_NAMES))
    detail = "; ".join(f"{VERSION_NAMES[k]} {_short(theirs[k])} (here {_short(ours[k])})" for k in differ)
    if differ == ["open_mpi"]:
        fix = (
            f"install the same Open MPI on {host} as here (the distribution's openmpi-bin; mpirun and orted "
            "must match on every host, and be on the PATH of a non-interactive ssh)"
        )
    else:
        fix = f"the same versions on every host: {path_fix(host)}"
    return Check("versions", "missing", one_line(f"differ: {detail}"), fix=fix)


def _short(version: str | None) -> str:
    if version is None:
        return "none"
    return version.removeprefix("mpirun (Open MPI) ")


# ----------------------------------------------------------------------------- network


NETWORK_FIX = (
    "set network_interface in a cluster spec to the interface (or address range) the hosts reach each "
    "other on (`ip -br addr` on each host lists them), or allow TCP between the hosts in their firewalls"
)


def chosen_network(hosts: list[Host], cluster: Cluster) -> tuple[str | None, str]:
    """(the network the ranks use: interface names or an address range, where it comes from)."""
    if cluster.network_interface:
        return cluster.network_interface, "network_interface of the cluster spec"
    found = cluster_network([h.name for h in hosts])
    if found:
        return found.cidr, f"{found.interface} here"
    return None, "no one network on this host holds every other host's address"


def network_checks(reports: list[HostReport], cluster: Cluster) -> None:
    """Each host's address on the ranks' network takes connections from every other host."""
    reachable = [r for r in reports if r.reachable]
    names = {r.host.name for r in reachable}
    if len(names) <= 1 or names <= set(LOCAL_NAMES):
        alone = len({r.host.name for r in reports}) == 1 or names <= set(LOCAL_NAMES)
        for report in reachable:
            report.checks.append(
                Check("network", "ok", "one host: no other host to reach")
                if alone
                else Check("network", "warn", "not checked: no other host got this far", required=False)
            )
        return
    # only hosts that answered: a name that does not resolve would hide the network of the others
    network, how = chosen_network([r.host for r in reachable], cluster)
    if network is None:
        for report in reachable:
            report.checks.append(
                Check(
                    "network",
                    "warn",
                    f"{how}: mpirun would offer the ranks every interface (a docker0 on every host hangs it)",
                    fix=NETWORK_FIX,
                    required=False,
                )
            )
        return
    mesh = run_mesh([r.host.name for r in reachable], network, sys.executable, cluster.ssh_port)
    for report in reachable:
        host = report.host.name
        problems = mesh.problems_of(host)
        if not problems:
            others = len(reachable) - 1
            report.checks.append(
                Check(
                    "network",
                    "ok",
                    f"{mesh.listening[host][0]} on {network} ({how}): reaches "
                    f"the {others} other host{'s' if others != 1 else ''}, and they reach it",
                )
            )
            continue
        if host in mesh.no_address:
            fix = (
                f"name a network {host} has: network_interface in a cluster spec, an interface name or an "
                "address range the hosts share (`ip -br addr` on each host lists them)"
            )
        elif host in mesh.shared_address:
            fix = (
                "the same address on several hosts is a local bridge (docker0?), not the hosts' network: "
                "set network_interface in a cluster spec to the one they share"
            )
        else:
            fix = NETWORK_FIX
        report.checks.append(Check("network", "missing", one_line("; ".join(problems)), fix=fix))


# -------------------------------------------------------------------------------- jobs


def job_checks(reports: list[HostReport], cluster: Cluster) -> list[Check]:
    """The all-reduces, where every host can take part (different versions may still work: the job
    says; a failed network check would only make the job hang until its time limit)."""
    unready = [r.host.name for r in reports if not r.passed("ssh", "path", "network")]
    names = (MPI_CHECK, HOROVOD_CHECK)
    if unready:
        why = f"not run: {', '.join(unready)} failed a check above (fix that first)"
        return [Check(name, "warn", why, required=False) for name in names]
    hosts = [r.host for r in reports]
    expected = Counter()
    for report in reports:
        expected[str(report.facts["hostname"])] += report.host.slots
    return [mpi_allreduce(hosts, cluster, expected), horovod_allreduce(hosts, cluster, expected)]


# ------------------------------------------------------------------------------ output


_LABELS = {"ok": ("ok", "green"), "warn": ("warning", "yellow"), "missing": ("failed", "bold red")}


def _status(check: Check) -> Text:
    label, style = _LABELS[check.status]
    return Text(label, style=style)


def render_hosts(reports: list[HostReport], jobs: list[Check], console: Console, title: str) -> None:
    table = Table(title=f"pinnrun doctor {title}", title_justify="left")
    table.add_column("Host", no_wrap=True)
    table.add_column("Check", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Detail", overflow="fold")
    rows = [(r.host.name, r.checks) for r in reports] + [("all hosts", jobs)]
    for host, checks in rows:
        for i, check in enumerate(checks):
            # Text(), not markup: details carry ssh's and the launchers' own words
            table.add_row(
                Text(host if i == 0 else ""),
                Text(check.name),
                _status(check),
                Text(check.detail),
                end_section=i == len(checks) - 1,
            )
    console.print(table)
    problems = [(host, c) for host, checks in rows for c in checks if c.status != "ok" and c.fix]
    if problems:
        console.print(Text("Problems", style="bold red"))
        for host, check in problems:
            console.print(Text(f"  - {host}: {check.name}: {check.detail}"))
            console.print(Text(f"    fix: {check.fix}"))
    failed = sum(c.failed for _, checks in rows for c in checks)
    if failed:
        console.print(Text(f"{failed} check{'s' if failed != 1 else ''} on the hosts failed.", style="bold red"))
    else:
        console.print(Text(f"All {len(reports)} host{'s' if len(reports) != 1 else ''} are ready.", style="bold green"))
