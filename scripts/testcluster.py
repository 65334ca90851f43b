"""A test cluster on this machine: hosts as Linux network namespaces on a private bridge.

    sudo scripts/testcluster.py up [--hosts 3] [--slurm]   # prints the state folder
    sudo scripts/testcluster.py exec STATE a -- pinnrun train ... --hosts a:1,b:1
    sudo scripts/testcluster.py down STATE

Each host is a network namespace (with its own host name and /etc/hosts) whose
only link is `eth0` on a bridge that lives in a namespace of its own: the
root namespace gets no interface and no route, so traffic goes only between
the test hosts and their loopbacks. Every host runs Debian's sshd on its own
address with a key made for this cluster; the hosts' ssh clients use it (a
cluster-wide /etc/ssh/ssh_config, as an admin would set up). The file system is
the machine's, so the repo is on a shared file system as on an NFS cluster.
With --slurm, munged (its own key and socket), slurmctld on the first host and
slurmd on every host (see scripts/testcluster_slurm.py).

Commands run on a host through `nsenter` into its namespaces (its network,
host name and mounts): `exec` above, or `Cluster.run()` from Python. Teardown
kills every process left in the hosts' namespaces, then deletes them; it runs
on `down`, and the pytest fixture (tests/cluster.py) runs it after a failure
or Ctrl-C too. Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

SUBNET = "10.77.0"  # private and isolated: the bridge is reachable from no other namespace
FIRST_ADDRESS = 11  # host k gets SUBNET.(11+k)
HOST_NAMES = "abcdefgh"
INTERFACE = "eth0"
TRAP_INTERFACE, TRAP_ADDRESS = "docker0", "172.17.0.1/16"
PREFIX = "pinnrun-tc"  # namespace names: pinnrun-tc<id>-<host>, pinnrun-tc<id>-switch
REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "ssh", "ssh-keygen", "/usr/sbin/sshd")
READY_SECONDS = 20
ALT_SSH_PORT = 2222  # sshd listens here too, for a cluster spec's ssh_port (its log says which port was used)


def missing_requirements() -> str | None:
    """Why this machine cannot host a test cluster, or None."""
    if os.geteuid() != 0:
        return "the test cluster needs root (network namespaces, sshd)"
    absent = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if absent:
        return f"the test cluster needs {', '.join(absent)} (apt-get install iproute2 util-linux openssh-server)"
    return None


@dataclass
class Host:
    name: str
    namespace: str
    address: str
    anchor: int = 0  # a process holding the host's namespaces (nsenter's target)
    sshd: int = 0


@dataclass
class Cluster:
    state: Path
    switch: str
    hosts: list[Host] = field(default_factory=list)
    owner: int = field(default_factory=os.getpid)
    services: dict[str, int] = field(default_factory=dict)  # name -> pid (munged, slurmctld, slurmd-a, ...)

    # ------------------------------------------------------------------ running things on a host

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def enter(self, name: str) -> list[str]:
        """The argv prefix that runs a command inside host `name`."""
        return ["nsenter", "-t", str(self.host(name).anchor), "-n", "-m", "-u", "--wd=" + os.getcwd(), "--"]

    def run(self, name: str, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.enter(name) + argv, **kwargs)

    def popen(self, name: str, argv: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.enter(name) + argv, **kwargs)

    def processes(self) -> list[tuple[int, str, str]]:
        """(pid, host, command line) of every process in the hosts' namespaces but the cluster's own."""
        own = {h.anchor for h in self.hosts} | {h.sshd for h in self.hosts} | set(self.services.values())
        inodes = {_netns_inode(h.namespace): h.name for h in self.hosts}
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in own:
                continue
            try:
                inode = os.stat(f"/proc/{entry}/ns/net").st_ino
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if inode in inodes and cmdline.strip():
                found.append((int(entry), inodes[inode], cmdline.strip()))
        return found

    def link(self, name: str, up: bool) -> None:
        """Take a host's only link down (or back up), as a pulled cable would."""
        subprocess.run(["ip", "-n", self.switch, "link", "set", "dev", name, "up" if up else "down"], check=True)

    # ------------------------------------------------------------------ state

    def save(self) -> None:
        (self.state / "cluster.json").write_text(
            json.dumps({**asdict(self), "state": str(self.state)}, indent=2) + "\n"
        )

    @classmethod
    def load(cls, state: Path) -> "Cluster":
        data = json.loads((Path(state) / "cluster.json").read_text())
        data["state"] = Path(data["state"])
        data["hosts"] = [Host(**h) for h in data["hosts"]]
        return cls(**data)

    @property
    def ssh_config(self) -> Path:
        return self.state / "ssh_config"

    def hostfile_text(self) -> str:
        return "".join(f"{h.address} {h.name}\n" for h in self.hosts)


# ---------------------------------------------------------------------- bring-up and teardown


def up(count: int = 3, root: Path | None = None) -> Cluster:
    """Create `count` hosts (a, b, c, ...) with sshd each; the cluster is torn down if any step fails."""
    if not 1 <= count <= len(HOST_NAMES):
        raise ValueError(f"1 to {len(HOST_NAMES)} hosts")
    reason = missing_requirements()
    if reason:
        raise RuntimeError(reason)
    sweep_stale()
    state = Path(tempfile.mkdtemp(prefix="pinnrun-testcluster-", dir=root))
    state.chmod(0o755)
    tag = f"{PREFIX}{os.getpid() % 100000}"
    cluster = Cluster(state, f"{tag}-switch")
    try:
        _network(cluster, tag, count)
        _keys(cluster)
        for host in cluster.hosts:
            _anchor(cluster, host)
            _sshd(cluster, host)
        cluster.save()
        _wait_for_ssh(cluster)
    except BaseException:
        down(cluster)
        raise
    return cluster


def down(cluster: Cluster) -> None:
    """Kill everything in the hosts' namespaces, delete them, remove the state folder. Idempotent."""
    for _ in range(3):
        left = cluster.processes()
        for pid, _, _ in left:
            _kill(pid)
        if not left:
            break
        time.sleep(0.2)
    for pid in [*cluster.services.values(), *(h.sshd for h in cluster.hosts), *(h.anchor for h in cluster.hosts)]:
        _kill(pid)
    for ns in [*(h.namespace for h in cluster.hosts), cluster.switch]:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    shutil.rmtree(cluster.state, ignore_errors=True)


def sweep_stale() -> None:
    """Namespaces of a test cluster whose owner died without teardown (kill -9 of pytest)."""
    for state in Path(tempfile.gettempdir()).glob("pinnrun-testcluster-*"):
        try:
            cluster = Cluster.load(state)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not Path(f"/proc/{cluster.owner}").exists():
            down(cluster)


def _network(cluster: Cluster, tag: str, count: int) -> None:
    sh = cluster.switch
    _ip("netns", "add", sh)
    _ip("-n", sh, "link", "add", "br0", "type", "bridge")
    _ip("-n", sh, "link", "set", "br0", "up")
    for k in range(count):
        name = HOST_NAMES[k]
        host = Host(name, f"{tag}-{name}", f"{SUBNET}.{FIRST_ADDRESS + k}")
        cluster.hosts.append(host)
        cluster.save()  # a failure from here on leaves enough behind for down() / sweep_stale()
        _ip("netns", "add", host.namespace)
        # the link's switch end is named after the host (so `link(name, up=False)` is a pulled cable)
        _ip("-n", sh, "link", "add", "name", name, "type", "veth", "peer", "name", INTERFACE, "netns", host.namespace)
        _ip("-n", sh, "link", "set", "dev", name, "master", "br0", "up")
        _ip("-n", host.namespace, "link", "set", "lo", "up")
        _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", INTERFACE)
        _ip("-n", host.namespace, "link", "set", INTERFACE, "up")
        # The traps of a real node, for the launchers' address selection to get right: a
        # container bridge with the same address on every host, reaching no other host...
        _ip("-n", host.namespace, "link", "add", "name", TRAP_INTERFACE, "type", "bridge")
        _ip("-n", host.namespace, "addr", "add", TRAP_ADDRESS, "dev", TRAP_INTERFACE)
        _ip("-n", host.namespace, "link", "set", TRAP_INTERFACE, "up")
    for host in cluster.hosts:
        # ...and Debian's /etc/hosts, where a host's own name is a loopback address.
        (cluster.state / f"hosts-{host.name}").write_text(
            f"127.0.0.1 localhost\n127.0.1.1 {host.name}\n::1 localhost\n" + cluster.hostfile_text()
        )


def _keys(cluster: Cluster) -> None:
    s = cluster.state
    for key in ("host_key", "id_ed25519"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"pinnrun-testcluster-{key}", "-f", str(s / key)],
            check=True,
        )
    shutil.copy(s / "id_ed25519.pub", s / "authorized_keys")
    cluster.ssh_config.write_text(
        "# the test cluster's hosts trust each other with this cluster's key (keys made per run)\n"
        "Host *\n"
        f"  IdentityFile {s / 'id_ed25519'}\n"
        "  IdentitiesOnly yes\n"
        "  BatchMode yes\n"
        "  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n"
        "  LogLevel ERROR\n"
        "  ConnectTimeout 5\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation folder


def _anchor(cluster: Cluster, host: Host) -> None:
    """A process that owns the host's namespaces: its network, a UTS namespace with the host's
    name, a mount namespace where /etc/hosts and the ssh client config are the cluster's."""
    script = (
        'hostname "$1" && mount --bind "$2" /etc/hosts && mount --bind "$3" /etc/ssh/ssh_config '
        "&& echo ready && exec sleep infinity"
    )
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            host.namespace,
            "unshare",
            "--uts",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            host.name,
            str(cluster.state / f"hosts-{host.name}"),
            str(cluster.ssh_config),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    host.anchor = proc.pid
    cluster.save()
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError(f"host {host.name}: could not set up its namespaces")


def _sshd(cluster: Cluster, host: Host) -> None:
    s = cluster.state
    config = s / f"sshd-{host.name}.conf"
    config.write_text(
        f"ListenAddress {host.address}\nPort 22\nPort {ALT_SSH_PORT}\nHostKey {s / 'host_key'}\nPidFile {s / f'sshd-{host.name}.pid'}\n"
        f"AuthorizedKeysFile {s / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PrintMotd no\nMaxStartups 200\nMaxSessions 200\nLogLevel VERBOSE\n"
    )  # VERBOSE: each connection's port
    log = open(s / f"sshd-{host.name}.log", "ab")
    proc = subprocess.Popen(
        cluster.enter(host.name) + ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    host.sshd = proc.pid
    cluster.save()


def _wait_for_ssh(cluster: Cluster) -> None:
    """Every host reaches every host over ssh (the way the launchers will)."""
    deadline = time.monotonic() + READY_SECONDS
    for src in cluster.hosts:
        for dst in cluster.hosts:
            while True:
                out = cluster.run(src.name, ["ssh", dst.name, "hostname"], timeout=READY_SECONDS)
                if out.returncode == 0 and out.stdout.strip() == dst.name:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"ssh {src.name} -> {dst.name} did not work: {out.stderr.strip()}")
                time.sleep(0.2)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _netns_inode(namespace: str) -> int:
    try:
        return os.stat(f"/run/netns/{namespace}").st_ino
    except OSError:
        return -1


def _kill(pid: int) -> None:
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="bring a cluster up and print its state folder")
    p_up.add_argument("--hosts", type=int, default=3)
    p_up.add_argument("--slurm", action="store_true", help="also start munged, slurmctld and slurmd")
    p_exec = sub.add_parser("exec", help="run a command on a host")
    p_exec.add_argument("state")
    p_exec.add_argument("host")
    p_exec.add_argument("argv", nargs=argparse.REMAINDER)
    p_down = sub.add_parser("down", help="tear a cluster down")
    p_down.add_argument("state")
    args = parser.parse_args(argv)
    if args.command == "up":
        cluster = up(args.hosts)
        if args.slurm:
            sys.path.insert(0, str(Path(__file__).parent))
            from testcluster_slurm import start_slurm

            start_slurm(cluster)
        cluster.owner = 1  # outlives this command: only `down` ends it
        cluster.save()
        print(cluster.state)
        return 0
    cluster = Cluster.load(Path(args.state))
    if args.command == "exec":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        return subprocess.run(cluster.enter(args.host) + argv).returncode
    down(cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
