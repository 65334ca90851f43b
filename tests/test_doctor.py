"""Tests for `pinnrun doctor` (pinnrun/doctor/local.py)."""

from __future__ import annotations

import importlib.util
import io
import shutil
from types import SimpleNamespace

import pytest
from rich.console import Console

from pinnrun.doctor import local as doctor
from pinnrun.doctor.local import Check


def _render() -> tuple[int, str]:
    console = Console(file=io.StringIO(), width=120)
    status = doctor.run_doctor(console)
    return status, console.file.getvalue()


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def _horovod_tf_importable() -> bool:
    if importlib.util.find_spec("horovod") is None:
        return False
    try:
        import horovod.tensorflow  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.skipif(
    not _horovod_tf_importable(), reason="horovod.tensorflow is not importable: run scripts/setup.sh first"
)
def test_everything_present_on_this_machine() -> None:
    checks = _by_name(doctor.collect())
    for name in (
        "Python",
        "tensorflow",
        "horovod",
        "Horovod framework: TensorFlow",
        "Horovod controller: MPI",
        "Horovod controller: Gloo",
        "horovodrun",
        "mpirun",
    ):
        assert checks[name].status == "ok", checks[name]
    assert checks["tensorflow"].detail.startswith("2.18.1 (")
    assert "Open MPI" in checks["mpirun"].detail

    status, out = _render()
    assert status == 0, out
    for text in (
        "pinnrun doctor",
        "tensorflow",
        "2.18.1",
        "Horovod controller: Gloo",
        "mpirun",
        "CPU cores",
        "All required components are present.",
    ):
        assert text in out
    assert "Missing" not in out


def test_missing_mpirun_is_reported_with_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which

    def which(name: str, *args, **kwargs) -> str | None:
        return None if name == "mpirun" else real_which(name, *args, **kwargs)

    monkeypatch.setattr(doctor.shutil, "which", which)
    mpirun = _by_name(doctor.collect())["mpirun"]
    assert (mpirun.status, mpirun.required) == ("missing", True)
    assert mpirun.fix == "apt-get install libopenmpi-dev openmpi-bin"

    status, out = _render()
    assert status == 1
    assert "Missing" in out
    assert "fix: apt-get install libopenmpi-dev openmpi-bin" in out
    assert "All required components are present." not in out


def test_horovod_without_gloo_asks_for_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hvd = SimpleNamespace(
        mpi_built=lambda: True,
        gloo_built=lambda: False,
        nccl_built=lambda: False,
        ddl_built=lambda: False,
        ccl_built=lambda: False,
        cuda_built=lambda: False,
        rocm_built=lambda: False,
    )
    monkeypatch.setattr(doctor, "_import_horovod_tensorflow", lambda: fake_hvd)
    checks = _by_name(doctor._probe_horovod_build())
    gloo = checks["Horovod controller: Gloo"]
    assert gloo.failed
    assert "wheels" in gloo.fix and "scripts/setup.sh" in gloo.fix
    assert checks["Horovod controller: MPI"].status == "ok"


def test_raising_probe_becomes_missing_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> list[Check]:
        raise RuntimeError("probe exploded [x]")

    monkeypatch.setattr(doctor, "_probe_mpirun", boom)
    mpirun = _by_name(doctor.collect())["mpirun"]
    assert mpirun.status == "missing" and mpirun.required
    assert "RuntimeError: probe exploded [x]" in mpirun.detail
    assert mpirun.fix == "apt-get install libopenmpi-dev openmpi-bin"

    status, out = _render()  # no traceback escapes, and "[x]" is not eaten as markup
    assert status == 1
    assert "probe exploded [x]" in out
    assert "Traceback" not in out


def test_optional_probe_failure_does_not_fail_exit_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_probe_srun", lambda: 1 / 0)
    srun = _by_name(doctor.collect())["srun"]
    assert srun.status == "missing" and not srun.required and not srun.failed


def test_cpu_tensorflow_on_gpu_machine_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tf = SimpleNamespace(
        config=SimpleNamespace(list_physical_devices=lambda kind: []),
        test=SimpleNamespace(is_built_with_cuda=lambda: False),
    )
    monkeypatch.setattr(doctor, "_nvidia_smi_gpus", lambda: ["GPU 0: NVIDIA H100 (UUID: GPU-1)"])
    (gpus,) = doctor._probe_gpus(fake_tf)
    assert gpus.status == "warn" and not gpus.required
    assert "uninstall -y tensorflow-cpu" in gpus.fix
