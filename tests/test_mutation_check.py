"""scripts/mutation_check.py's own mechanics, cheap enough for every run: each mutation
still finds its text exactly once in the core (a refactor cannot silently disable one),
still makes valid Python, and aims at tests that exist; a missed break fails the check."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("mutation_check", ROOT / "scripts" / "mutation_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


mc = load_script()


@pytest.mark.parametrize("mutation", mc.MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_applies_exactly_once_and_stays_valid_python(mutation):
    source = (ROOT / mutation.file).read_text()
    assert source.count(mutation.old) == 1, f"{mutation.name}: update its text in scripts/mutation_check.py"
    mutated = mc.apply(source, mutation)
    assert mutated != source
    ast.parse(mutated)  # a break of behaviour, not a syntax error that any import would catch


def _test_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [n.name.lower() for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


@pytest.mark.parametrize(
    "stage", sorted({s for m in mc.MUTATIONS for s in m.stages}, key=lambda s: s.label()), ids=lambda s: s.label()
)
def test_each_stage_selects_existing_tests(stage):
    """Each alternative of a -k expression ('a and b or c') names some test function, and
    each of its words occurs in the file (a parametrize id such as 'mpirun'): a renamed test
    must not leave a mutation aimed at nothing (pytest would only say 'no tests ran')."""
    path = ROOT / stage.path
    assert path.is_file(), stage.path
    names, text = _test_names(path), path.read_text().lower()
    assert names, stage.path
    for alternative in re.split(r"\s+or\s+", stage.keyword or ""):
        words = [w.lower() for w in re.split(r"\s+and\s+", alternative) if w]
        for word in words:
            assert word in text, f"-k {word!r} occurs nowhere in {stage.path}"
        assert not words or any(w in n for w in words for n in names), (
            f"-k {alternative!r} names no test function in {stage.path}"
        )


def test_the_required_breaks_are_all_there():
    """The issue's list: each is a named mutation of the core (not a sanity check of the harness)."""
    core = {m.name for m in mc.MUTATIONS if not m.sanity}
    assert {
        "gradient scaled by the rank count",
        "no broadcast",
        "a shard's last point dropped",
        "wrong global point count",
        "L-BFGS history off by one",
        "loss terms not all-reduced",
        "Adam without bias correction",
    } <= core
    assert all(m.file.startswith("pinnrun/") for m in mc.MUTATIONS)


def test_apply_refuses_text_that_is_absent_or_ambiguous():
    m = mc.Mutation("x", "f.py", "a = 1", "a = 2", "", ())
    assert mc.apply("a = 1\nb = 3\n", m) == "a = 2\nb = 3\n"
    with pytest.raises(ValueError, match="0 occurrences"):
        mc.apply("b = 3\n", m)
    with pytest.raises(ValueError, match="2 occurrences"):
        mc.apply("a = 1\na = 1\n", m)


def _run(verdict):
    return mc.StageRun(mc.Stage("tests/t.py"), verdict, [], {}, 0.0, "", {})


def test_a_break_counts_as_caught_only_when_a_test_failed():
    assert mc.outcome([_run("passed"), _run("failed")]) == "caught"
    assert mc.outcome([_run("timeout")]) == "caught"
    assert mc.outcome([_run("passed"), _run("passed")]) == "missed"
    assert mc.outcome([_run("error")]) == "error"  # e.g. the selection ran no test: no evidence
    assert mc.outcome([]) == "error"
    assert mc.exit_status(["caught", "caught"]) == 0
    assert mc.exit_status(["caught", "missed"]) == 1
    assert mc.exit_status(["caught", "error"]) == 1
