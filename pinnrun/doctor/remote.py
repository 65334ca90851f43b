"""The host side of `pinnrun doctor --hosts`: run on each host as `python -m pinnrun.doctor.remote ...`.

    facts                           what this host has, as one JSON line (versions, paths, networks)
    mesh NETWORK TOKEN SECONDS      listen on this host's address in NETWORK, then connect to the
                                    other hosts' listeners read from stdin (the reachability check)
    allreduce                       one rank of the mpi4py all-reduce job (started by mpirun)
    horovod                         one rank of the Horovod all-reduce job (started by the launcher)

Each answer is one line that starts with MARK, so launcher prefixes ([1,0]<stdout>:) and library
noise on stdout do not matter. Only the standard library is imported up front: a check of a host
must not cost TensorFlow's seconds where it does not need TensorFlow.
"""

from __future__ import annotations

import importlib.metadata
import ipaddress
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

MARK = "PINNRUN-DOCTOR "
# Distribution names whose versions must match across hosts (TensorFlow has several names).
VERSIONED = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu"),
    "horovod": ("horovod",),
    "pinnrun": ("pinnrun",),
    "mpi4py": ("mpi4py",),
}
MPIRUN_TIMEOUT_S = 10
MESH_CONNECT_TIMEOUT_S = 3.0


def say(record: dict) -> None:
    # One write for the whole line: unbuffered (PYTHONUNBUFFERED=1, as the launchers run ranks),
    # print() writes the newline apart, and mpirun's --tag-output then tags the two pieces apart.
    os.write(sys.stdout.fileno(), (MARK + json.dumps(record) + "\n").encode())


def read_marked(line: str) -> dict | None:
    """The record in a line holding MARK (after a launcher's prefix, before anything it appended)."""
    at = line.find(MARK)
    if at < 0:
        return None
    try:
        found, _ = json.JSONDecoder().raw_decode(line, at + len(MARK))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


# ----------------------------------------------------------------------------- facts


def _version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _open_mpi() -> str:
    """`mpirun --version`'s first line as a non-interactive ssh shell finds it (as mpirun's own
    remote start finds orted), or why there is none."""
    path = shutil.which("mpirun")
    if path is None:
        return "not found on PATH"
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=MPIRUN_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`mpirun --version` failed: {exc}"
    first = next((line.strip() for line in out.stdout.splitlines() if line.strip()), "")
    return first if out.returncode == 0 and first else f"`mpirun --version` exited {out.returncode}"


def networks() -> dict[str, list[str]]:
    """Interface name -> its IPv4 addresses as `address/prefix`."""
    import psutil  # a pinnrun dependency (pyproject.toml), imported only where needed

    found: dict[str, list[str]] = {}
    for name, addresses in psutil.net_if_addrs().items():
        for a in addresses:
            if a.family == socket.AF_INET and a.netmask:
                found.setdefault(name, []).append(str(ipaddress.IPv4Interface(f"{a.address}/{a.netmask}")))
    return found


def _import_error() -> str | None:
    """What `import pinnrun, horovod.tensorflow` says, or None (the import costs TensorFlow's seconds)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:  # the install only: ranks and collectives are training/comm.py's (tests/test_layers.py)
        importlib.import_module("horovod.tensorflow")
        import pinnrun  # noqa: F401
    except Exception as exc:  # ImportError, or an OSError / undefined symbol from Horovod's .so
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def facts(import_check: bool = True) -> dict:
    import pinnrun

    return {
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "executable": sys.executable,
        "pinnrun_path": str(Path(pinnrun.__file__).resolve().parent),
        "versions": {key: _version(names) for key, names in VERSIONED.items()},
        "open_mpi": _open_mpi(),
        "networks": networks(),
        "import_error": _import_error() if import_check else None,
    }


# ------------------------------------------------------------------------------ mesh


def addresses_in(network: str, found: dict[str, list[str]]) -> list[str]:
    """This host's addresses on NETWORK: a range (10.77.0.0/24) or interface names (eth0,ib0), as
    Open MPI's btl_tcp_if_include reads it."""
    try:
        cidr = ipaddress.IPv4Network(network, strict=False) if "/" in network else None
    except ValueError:
        cidr = None
    out = []
    for name, addresses in found.items():
        for text in addresses:
            address = ipaddress.IPv4Interface(text).ip
            if (address in cidr) if cidr is not None else (name in network.split(",")):
                out.append(str(address))
    return out


def _serve(listener: socket.socket, token: str) -> None:
    """Answer every connection with this host's token: a connection that lands on another host
    (the same address on several hosts, as docker0's 172.17.0.1) gets that host's token instead."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            try:
                conn.sendall(token.encode() + b"\n")
            except OSError:
                pass


def probe(address: str, port: int, timeout: float = MESH_CONNECT_TIMEOUT_S) -> str:
    """The token the listener at address:port answers, or `error: why`."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            data = b""
            while not data.endswith(b"\n") and len(data) < 256:
                chunk = conn.recv(256)
                if not chunk:
                    break
                data += chunk
            return data.decode(errors="replace").strip()
    except socket.timeout:
        return f"error: no answer in {timeout:g} s"
    except OSError as exc:
        return f"error: {exc.strerror or exc}"


def mesh(network: str, token: str, seconds: float) -> int:
    """Listen, say where, read the targets (one JSON line on stdin), connect to each, say what
    answered, and keep listening until stdin closes (the other hosts may still be connecting)."""
    lost = threading.Timer(seconds, os._exit, args=(3,))  # a lost doctor never leaves this behind
    lost.daemon = True
    lost.start()
    found = networks()
    mine = addresses_in(network, found)
    if not mine:
        shown = "; ".join(f"{name} {' '.join(a)}" for name, a in sorted(found.items())) or "none"
        say({"error": f"no address on {network} (this host has: {shown})"})
        return 0
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((mine[0], 0))
    listener.listen(64)
    threading.Thread(target=_serve, args=(listener, token), daemon=True).start()
    say({"address": mine[0], "port": listener.getsockname()[1]})
    line = sys.stdin.readline()
    targets = json.loads(line) if line.strip() else []
    answers: dict[str, str] = {}
    threads = [
        threading.Thread(target=lambda t=t: answers.__setitem__(t["host"], probe(t["address"], t["port"])))
        for t in targets
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    say({"answers": answers})
    sys.stdin.read()  # until the doctor closes it: every host has finished connecting
    os._exit(0)


# ---------------------------------------------------------------------------- jobs


def allreduce() -> int:
    """Rank r adds r+1; rank 0 says the sum and every rank's host name."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    total = comm.allreduce(comm.Get_rank() + 1, op=MPI.SUM)
    hosts = comm.gather(socket.gethostname(), root=0)
    if comm.Get_rank() == 0:
        say({"size": comm.Get_size(), "sum": total, "hosts": hosts})
    return 0


def horovod() -> int:
    """The same through pinnrun's own Horovod layer, as a training's gradients go."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from pinnrun.training.comm import HorovodComm

    comm = HorovodComm()
    total = comm.allreduce_sum(tf.constant(float(comm.rank + 1), tf.float64))
    hosts = comm.allgather_object(socket.gethostname())
    if comm.rank == 0:
        say({"size": comm.size, "sum": float(total.numpy()), "hosts": hosts})
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "facts":
        say(facts())
        return 0
    if command == "mesh" and len(argv) == 4:
        return mesh(argv[1], argv[2], float(argv[3]))
    if command == "allreduce":
        return allreduce()
    if command == "horovod":
        return horovod()
    print(
        "usage: python -m pinnrun.doctor.remote facts | mesh NETWORK TOKEN SECONDS | allreduce | horovod",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
