"""Shared helpers for tests: spec files in tmp folders, problem building."""

from __future__ import annotations

import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "problems"


def spec_dict(name: str) -> dict:
    """A shipped problem as plain data (PyYAML is YAML 1.1: keep `on:` a string key)."""
    text = re.sub(r"(?<![A-Za-z0-9_])on:", "'on':", (PROBLEMS / f"{name}.yaml").read_text())
    return yaml.safe_load(text)


def write_spec(tmp_path: Path, data: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load(name_or_path, overrides=()):
    """Load and build the problem, with every check validation makes; returns the LoadedSpec."""
    from pinnrun.problem.build import load_problem

    path = name_or_path if isinstance(name_or_path, Path) else PROBLEMS / f"{name_or_path}.yaml"
    return load_problem(path, list(overrides))[0]


@contextmanager
def small_disk(folder: Path, size: str):
    """A tmpfs of `size` (e.g. "64k") mounted at `folder`, unmounted after; root only (CI runs as
    root), so a test can fill a disk without touching the machine's own."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
