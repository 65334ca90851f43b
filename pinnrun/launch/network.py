"""The network ranks on several hosts talk over, chosen by the launcher.

A real node has several ways out: loopback, the cluster network, and often a
container bridge with the same address on every node (docker0, 172.17.0.1).
Left to itself, Open MPI's TCP transport offers every interface to its peers and
hangs when two hosts share an address: on the test cluster (tests/test_cluster.py,
a docker0 on every host) a 2-host job under mpirun never finished its first
all-reduce. So the launcher takes the network through which this host reaches the
other hosts, and names it by address range (interface names may differ between
hosts; the range is the same network everywhere).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import psutil

LOCAL_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Network:
    interface: str  # its name on this host
    cidr: str  # e.g. 10.77.0.0/24: what the ranks are told to use


def host_addresses(name: str) -> list[str]:
    """The IPv4 addresses `name` resolves to (/etc/hosts, DNS), loopback ones left out: Debian
    maps a host's own name to 127.0.1.1 beside its real address. [] when it does not resolve."""
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found = []
    for *_, (address, _) in infos:
        if not ipaddress.ip_address(address).is_loopback and address not in found:
            found.append(address)
    return found


def local_networks() -> dict[str, list[ipaddress.IPv4Interface]]:
    """Interface name -> its IPv4 addresses with their networks, on this host."""
    networks = {}
    for name, addresses in psutil.net_if_addrs().items():
        for a in addresses:
            if a.family == socket.AF_INET and a.netmask:
                networks.setdefault(name, []).append(ipaddress.IPv4Interface(f"{a.address}/{a.netmask}"))
    return networks


def source_address(destination: str) -> str | None:
    """The address this host sends from to reach `destination` (the kernel's route; a UDP
    connect sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((destination, 9))
            return s.getsockname()[0]
    except OSError:
        return None


def cluster_network(host_names: list[str]) -> Network | None:
    """The local network whose range holds every other host's address, or None: all hosts are
    this one, a name does not resolve, or the hosts sit on several networks (routed clusters:
    name the interface in a cluster spec)."""
    networks = local_networks()
    own = {str(i.ip) for interfaces in networks.values() for i in interfaces}
    others = []
    for name in host_names:
        if name in LOCAL_NAMES:
            continue
        addresses = host_addresses(name)
        if not addresses:
            return None
        if not own.intersection(addresses):
            others.append(addresses[0])
    if not others:
        return None
    source = source_address(others[0])
    for interface, addresses in networks.items():
        for address in addresses:
            if str(address.ip) == source and not address.ip.is_loopback:
                if all(ipaddress.ip_address(o) in address.network for o in others):
                    return Network(interface, str(address.network))
                return None
    return None


def missing_interfaces(names: str) -> list[str]:
    """The interfaces of a `network_interface` list (comma-separated) that this host lacks."""
    have = psutil.net_if_addrs()
    return [name for name in names.split(",") if name not in have]
