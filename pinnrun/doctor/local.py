"""`pinnrun doctor`: check that this machine can run data-parallel PINN training.

`collect()` gathers facts into `Check` records (no printing), `render()` shows them
with rich, `run_doctor()` does both and returns the exit status for the CLI.
Every probe is guarded: a probe that raises becomes a "missing" check carrying the
error text, so the doctor itself never shows a traceback.
"""

from __future__ import annotations

import glob
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

Status = Literal["ok", "warn", "missing"]

EXPECTED_PYTHON = (3, 11)
EXPECTED_TENSORFLOW = "2.18.1"
EXPECTED_HOROVOD = "0.28.1"
# Runtime dependencies from pyproject.toml whose versions are reported (distribution names).
PACKAGES = ("numpy", "scipy", "mpi4py", "pyyaml", "click", "rich", "pydantic", "matplotlib")

FIX_SETUP = "run scripts/setup.sh"
FIX_MPI = "apt-get install libopenmpi-dev openmpi-bin"
SUBPROCESS_TIMEOUT_S = 15


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None
    required: bool = True

    @property
    def failed(self) -> bool:
        """A required component is missing (this is what makes the exit status 1)."""
        return self.required and self.status == "missing"


# --------------------------------------------------------------------------- helpers


def _fix_rebuild_horovod() -> str:
    # setup.sh only rebuilds when `import horovod.tensorflow` fails, so a build that
    # imports but lacks Gloo/MPI must also be uninstalled, not just un-cached.
    cache = os.environ.get("PINNRUN_CACHE", "~/.cache/pinnrun")
    return (
        f"delete the cached wheel in {cache}/wheels, uninstall horovod "
        f"({sys.executable} -m pip uninstall -y horovod) and re-run scripts/setup.sh"
    )


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _run(cmd: list[str]) -> str:
    """Run a short command and return its stdout; raise with its stderr if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode}: {err[0] if err else ''}")
    return proc.stdout.strip()


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def _yes_no(flags: dict[str, bool]) -> str:
    return ", ".join(f"{name} {'yes' if on else 'no'}" for name, on in flags.items())


def _import_tensorflow() -> ModuleType:
    # TF's C++ startup log (oneDNN, cpu features...) is noise here; respect a user's choice.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return importlib.import_module("tensorflow")


def _import_horovod_tensorflow() -> ModuleType:
    _import_tensorflow()  # so TF's log level is set before horovod imports it
    return importlib.import_module("horovod.tensorflow")


def _nvidia_smi_gpus() -> list[str]:
    """`nvidia-smi -L` lines, or [] where there is no working NVIDIA driver."""
    from pinnrun.launch.command import local_gpus  # the launcher's own view of the GPUs

    return local_gpus()


# ---------------------------------------------------------------------------- probes


def _probe_python() -> list[Check]:
    version = platform.python_version()
    detail = f"{version} ({platform.python_implementation()}, {sys.executable})"
    if sys.version_info[:2] == EXPECTED_PYTHON:
        return [Check("Python", "ok", detail)]
    want = ".".join(map(str, EXPECTED_PYTHON))
    return [
        Check(
            "Python",
            "missing",
            f"{detail}; {want} is required",
            fix=f"install Python {want}, then PYTHON=/path/to/python{want} scripts/setup.sh",
        )
    ]


def _probe_platform() -> list[Check]:
    return [Check("Platform", "ok", platform.platform(), required=False)]


def _probe_tensorflow(tf: ModuleType | None, import_error: str | None) -> list[Check]:
    if tf is None:
        installed = _dist_version("tensorflow") or _dist_version("tensorflow-cpu")
        where = f"installed ({installed}) but not importable" if installed else "not installed"
        return [Check("tensorflow", "missing", f"{where}: {import_error}", fix=FIX_SETUP)]
    build = "CUDA build" if tf.test.is_built_with_cuda() else "CPU build"
    detail = f"{tf.__version__} ({build})"
    if tf.__version__ != EXPECTED_TENSORFLOW:
        return [Check("tensorflow", "warn", f"{detail}; expected {EXPECTED_TENSORFLOW}", fix=FIX_SETUP)]
    return [Check("tensorflow", "ok", detail)]


def _probe_horovod_version() -> list[Check]:
    version = _dist_version("horovod")
    if version is None:
        return [Check("horovod", "missing", "not installed", fix=FIX_SETUP)]
    if version != EXPECTED_HOROVOD:
        return [Check("horovod", "warn", f"{version}; expected {EXPECTED_HOROVOD}", fix=_fix_rebuild_horovod())]
    return [Check("horovod", "ok", version)]


def _probe_packages() -> list[Check]:
    checks = []
    for dist in PACKAGES:
        version = _dist_version(dist)
        if version is None:
            checks.append(Check(dist, "missing", "not installed", fix=FIX_SETUP))
        else:
            checks.append(Check(dist, "ok", version))
    return checks


def _horovod_extension_built(subpackage: str, lib: str) -> bool:
    """Whether horovod/<subpackage>/<lib>*.so exists, found without importing torch/mxnet."""
    spec = importlib.util.find_spec("horovod")
    if spec is None or not spec.submodule_search_locations:
        return False
    root = Path(list(spec.submodule_search_locations)[0])
    return bool(glob.glob(str(root / subpackage / f"{lib}*.so")))


def _probe_horovod_build() -> list[Check]:
    fix = _fix_rebuild_horovod() if _dist_version("horovod") else FIX_SETUP
    try:
        hvd = _import_horovod_tensorflow()
    except Exception as exc:  # ImportError, or OSError/undefined symbol from the .so
        return [
            Check(
                "Horovod framework: TensorFlow",
                "missing",
                f"horovod.tensorflow not importable: {type(exc).__name__}: {exc}",
                fix=fix,
            ),
            Check("Horovod controllers", "warn", "not checked: horovod.tensorflow did not import", required=False),
        ]
    # build-time flags; all of these answer without hvd.init().
    others = {
        "PyTorch": _horovod_extension_built("torch", "mpi_lib_v2"),
        "MXNet": _horovod_extension_built("mxnet", "mpi_lib"),
    }
    ops = {
        "NCCL": hvd.nccl_built(),
        "DDL": hvd.ddl_built(),
        "CCL": hvd.ccl_built(),
        "CUDA": hvd.cuda_built(),
        "ROCm": hvd.rocm_built(),
    }
    checks = [
        Check("Horovod framework: TensorFlow", "ok", "horovod.tensorflow imports"),
        Check("Horovod frameworks (other)", "ok", f"{_yes_no(others)} (not used by pinnrun)", required=False),
    ]
    for name, built in (("MPI", hvd.mpi_built()), ("Gloo", hvd.gloo_built())):
        if built:
            checks.append(Check(f"Horovod controller: {name}", "ok", "built"))
        else:
            checks.append(Check(f"Horovod controller: {name}", "missing", "not built into this horovod", fix=fix))
    checks.append(Check("Horovod tensor ops", "ok", _yes_no(ops), required=False))
    return checks


def _probe_horovodrun() -> list[Check]:
    # Prefer the venv's own script: a horovodrun elsewhere on PATH may belong to another env.
    beside = Path(sys.executable).parent / "horovodrun"
    path = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None
    path = path or shutil.which("horovodrun")
    if path is None:
        return [Check("horovodrun", "missing", "not found next to python nor on PATH", fix=FIX_SETUP)]
    return [Check("horovodrun", "ok", path)]


def _probe_mpirun() -> list[Check]:
    path = shutil.which("mpirun")
    if path is None:
        return [Check("mpirun", "missing", "not found on PATH", fix=FIX_MPI)]
    try:
        version = _first_line(_run([path, "--version"]))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return [Check("mpirun", "warn", f"{path}; `mpirun --version` failed: {exc}", fix=FIX_MPI)]
    return [Check("mpirun", "ok", f"{path}, {version}")]


def _probe_srun() -> list[Check]:
    path = shutil.which("srun")
    detail = path if path else "not found (optional: only needed to launch under Slurm)"
    return [Check("srun", "ok", detail, required=False)]


def _probe_gpus(tf: ModuleType | None) -> list[Check]:
    smi = _nvidia_smi_gpus()
    if tf is None:
        return [Check("GPUs", "warn", "not checked: TensorFlow is not importable", required=False)]
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        lines = smi or [gpu.name for gpu in gpus]
        return [Check("GPUs", "ok", f"{len(gpus)} visible to TensorFlow\n" + "\n".join(lines), required=False)]
    if smi and not tf.test.is_built_with_cuda():
        # setup.sh keeps an installed tensorflow-cpu 2.18.1, so it must be removed first.
        return [
            Check(
                "GPUs",
                "warn",
                f"nvidia-smi lists {len(smi)} GPU(s) but the CPU build of TensorFlow is installed; ranks run on CPU",
                fix=f"{sys.executable} -m pip uninstall -y tensorflow-cpu horovod and re-run scripts/setup.sh",
                required=False,
            )
        ]
    if smi:
        return [
            Check(
                "GPUs",
                "warn",
                f"nvidia-smi lists {len(smi)} GPU(s) but TensorFlow sees none "
                "(driver / CUDA library mismatch?); ranks run on CPU",
                fix='run TF_CPP_MIN_LOG_LEVEL=0 python -c "import tensorflow as tf; '
                "tf.config.list_physical_devices('GPU')\" to see why",
                required=False,
            )
        ]
    return [Check("GPUs", "ok", "none; ranks run on CPU (fine)", required=False)]


def _usable_cores() -> int:
    # The affinity mask (cgroups/taskset/Slurm) is what we may use, not the machine total.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _probe_cpu() -> list[Check]:
    n = _usable_cores()
    return [
        Check(
            "CPU cores",
            "ok",
            f"{n} usable; 1 TF intra-op thread per rank is used; "
            f"{n} rank{'s' if n != 1 else ''} fit without oversubscription",
            required=False,
        )
    ]


def _probe_user() -> list[Check]:
    uid = os.geteuid() if hasattr(os, "geteuid") else -1
    if uid == 0:
        detail = "root: mpirun needs --allow-run-as-root; pinnrun adds it itself"
    else:
        detail = f"uid {uid} (not root)"
    return [Check("User", "ok", detail, required=False)]


# ------------------------------------------------------------------------ public API


def _guarded(name: str, probe: Callable[[], list[Check]], required: bool, fix: str) -> list[Check]:
    try:
        return probe()
    except Exception as exc:  # a doctor must report, never crash
        return [Check(name, "missing", f"check failed: {type(exc).__name__}: {exc}", fix=fix, required=required)]


def collect() -> list[Check]:
    """Gather every check. Prints nothing; never raises for a failing probe."""
    # TensorFlow is imported once here and handed to the probes that need it.
    tf: ModuleType | None = None
    tf_error: str | None = None
    try:
        tf = _import_tensorflow()
    except Exception as exc:
        tf_error = f"{type(exc).__name__}: {exc}"

    # Looked up at call time (not a module-level table) so tests can monkeypatch a probe.
    probes: list[tuple[str, Callable[[], list[Check]], bool, str]] = [
        ("Python", _probe_python, True, FIX_SETUP),
        ("Platform", _probe_platform, False, FIX_SETUP),
        ("tensorflow", lambda: _probe_tensorflow(tf, tf_error), True, FIX_SETUP),
        ("horovod", _probe_horovod_version, True, FIX_SETUP),
        ("packages", _probe_packages, True, FIX_SETUP),
        ("Horovod build", _probe_horovod_build, True, _fix_rebuild_horovod()),
        ("horovodrun", _probe_horovodrun, True, FIX_SETUP),
        ("mpirun", _probe_mpirun, True, FIX_MPI),
        ("srun", _probe_srun, False, FIX_SETUP),
        ("GPUs", lambda: _probe_gpus(tf), False, FIX_SETUP),
        ("CPU cores", _probe_cpu, False, FIX_SETUP),
        ("User", _probe_user, False, FIX_SETUP),
    ]
    checks: list[Check] = []
    for name, probe, required, fix in probes:
        checks.extend(_guarded(name, probe, required, fix))
    return checks


def all_required_present(checks: list[Check]) -> bool:
    return not any(check.failed for check in checks)


def _status_text(status: Status) -> Text:
    label, style = {"ok": ("ok", "green"), "warn": ("warning", "yellow"), "missing": ("missing", "bold red")}[status]
    return Text(label, style=style)


def render(checks: list[Check], console: Console) -> None:
    """Table of all checks, then what is missing (with fixes) or the all-clear line."""
    table = Table(title="pinnrun doctor", title_justify="left")
    table.add_column("Check", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Detail", overflow="fold")
    for check in checks:
        # Text(), not markup: details carry error messages that may contain "[...]".
        table.add_row(Text(check.name), _status_text(check.status), Text(check.detail))
    console.print(table)

    def listing(title: str, style: str, items: list[Check]) -> None:
        console.print(Text(title, style=style))
        for check in items:
            optional = "" if check.required else " (optional)"
            console.print(Text(f"  - {check.name}{optional}: {check.detail}"))
            if check.fix:
                console.print(Text(f"    fix: {check.fix}"))

    missing = [c for c in checks if c.status == "missing"]
    warnings = [c for c in checks if c.status == "warn" and c.fix]
    if missing:
        listing("Missing", "bold red", missing)
    if warnings:
        listing("Warnings", "bold yellow", warnings)
    failed = sum(check.failed for check in checks)
    if failed:
        console.print(
            Text(f"{failed} required component{'s are' if failed != 1 else ' is'} missing.", style="bold red")
        )
    else:
        console.print(Text("All required components are present.", style="bold green"))


def run_doctor(console: Console | None = None) -> int:
    """Collect, render, and return the exit status: 0 if nothing required is missing."""
    console = console or Console()
    checks = collect()
    render(checks, console)
    return 0 if all_required_present(checks) else 1
