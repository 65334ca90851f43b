"""The pipeline's layers import downwards only: the spec layer (YAML, schema, expressions,
validation) knows nothing of regions, terms, models or training, so a problem is data
checked on its own before anything is built from it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pinnrun"
BELOW = {
    "spec": ("pinnrun.problem", "pinnrun.model", "pinnrun.sampling", "pinnrun.training", "pinnrun.results"),
    "problem": ("pinnrun.model", "pinnrun.training", "pinnrun.results", "pinnrun.launch"),
}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_each_layer_imports_nothing_above_it():
    wrong = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for layer, above in BELOW.items()
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in imported(path)
        if name.startswith(above)
    ]
    assert not wrong, wrong


@pytest.mark.slow
def test_only_comm_knows_about_ranks_and_collectives():
    """horovod.tensorflow (ranks, all-reduce, broadcast) is used in comm.py alone; the launcher
    may use Horovod's runner to start ranks."""
    users = sorted(
        str(p.relative_to(PACKAGE.parent))
        for p in PACKAGE.rglob("*.py")
        if any(n.startswith("horovod.tensorflow") for n in imported(p))
    )
    assert users == ["pinnrun/training/comm.py"], users
