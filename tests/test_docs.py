"""docs/spec.md stays in sync with the code: its annotated example is a valid
spec that uses every section, every complete example passes what `pinnrun
validate` runs, it names every whitelisted function, every schema field (the
geometry's too), every allowed value of a choice field and shows every condition
kind, and every shipped problem is mentioned somewhere in the docs."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from pinnrun.problem.build import load_problem
from pinnrun.spec import geometry_schema, schema
from pinnrun.spec.expressions import FUNCTIONS
from pinnrun.spec.loader import load_spec
from pinnrun.spec.schema import Spec
from pinnrun.spec.yaml_lines import load_located

REPO = Path(__file__).resolve().parents[1]
SPEC_DOC = REPO / "docs" / "spec.md"
README = REPO / "README.md"
PROBLEMS = sorted((REPO / "problems").glob("*.yaml"))

_YAML_BLOCK = re.compile(r"^```yaml[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def doc_text() -> str:
    assert SPEC_DOC.is_file(), f"{SPEC_DOC} is missing"
    return SPEC_DOC.read_text()


def yaml_blocks() -> list[str]:
    return _YAML_BLOCK.findall(doc_text())


def first_yaml_block() -> str:
    blocks = yaml_blocks()
    assert blocks, "docs/spec.md has no ```yaml block"
    return blocks[0]


def test_annotated_example_is_a_valid_spec(tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(first_yaml_block())
    loaded = load_spec(path)  # raises SpecError with file:line: field if not
    assert loaded.spec.name


def test_annotated_example_uses_every_top_level_field() -> None:
    # the raw keys, not the validated model: defaults must not count as "used"
    data = load_located(first_yaml_block(), "docs/spec.md").data
    missing = [field for field in Spec.model_fields if field not in data]
    assert not missing, f"the example in docs/spec.md lacks top-level field(s): {', '.join(missing)}"


def test_annotated_example_uses_every_condition_kind(tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(first_yaml_block())
    kinds = {c.kind for c in load_spec(path).spec.conditions.values()}
    assert {"dirichlet", "neumann", "initial"} <= kinds, f"condition kinds used: {sorted(kinds)}"


@pytest.mark.slow
def test_every_complete_yaml_block_is_valid(tmp_path: Path) -> None:
    """Every ```yaml block that is a whole spec (has a top-level `name:`), the annotated example
    included, passes what `pinnrun validate` runs: the schema, and the built problem's checks
    (boundary parts, regions, probes on points, the reference)."""
    complete = 0
    for i, block in enumerate(yaml_blocks()):
        data = load_located(block, f"docs/spec.md block {i}").data
        if isinstance(data, dict) and "name" in data:
            path = tmp_path / f"block{i}.yaml"
            path.write_text(block)
            load_problem(path)  # raises SpecError with file:line: field if not
            complete += 1
    assert complete >= 2, f"docs/spec.md has {complete} complete example(s)"


def test_every_condition_kind_has_a_yaml_example() -> None:
    blocks = "\n".join(yaml_blocks())
    missing = [kind for kind in schema.CONDITION_KINDS if not re.search(rf"kind: {kind}\b", blocks)]
    assert not missing, f"docs/spec.md has no ```yaml example of condition kind(s): {', '.join(missing)}"


def test_every_whitelisted_function_is_documented() -> None:
    text = doc_text()
    missing = [name for name in FUNCTIONS if f"`{name}" not in text]
    assert not missing, f"docs/spec.md does not name function(s): {', '.join(missing)}"


def spec_models() -> list[type[BaseModel]]:
    """Every model of the spec's schema, the geometry's included."""
    return [
        m
        for module in (schema, geometry_schema)
        for m in vars(module).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == module.__name__
    ]


def test_every_schema_field_is_documented() -> None:
    """Each field of each spec model appears as `field` in the reference section."""
    text = doc_text()
    missing = sorted(
        {f"{m.__name__}.{field}" for m in spec_models() for field in m.model_fields if f"`{field}`" not in text}
    )
    assert not missing, f"docs/spec.md does not document field(s): {', '.join(missing)}"


def literal_values(annotation) -> set[str]:
    """The strings a field's type allows by name (Literal[...]), however deeply nested."""
    if typing.get_origin(annotation) is typing.Literal:
        return {v for v in typing.get_args(annotation) if isinstance(v, str)}
    return set().union(*(literal_values(a) for a in typing.get_args(annotation)))


def test_every_choice_is_documented() -> None:
    """Each value a choice field allows (a sampling method, an activation, a condition kind...)
    appears as `value` in docs/spec.md."""
    text = doc_text()
    missing = sorted(
        {
            f"{m.__name__}.{name}: {value}"
            for m in spec_models()
            for name, field in m.model_fields.items()
            for value in literal_values(field.annotation)
            if f"`{value}`" not in text
        }
    )
    assert not missing, f"docs/spec.md does not name the choice(s): {', '.join(missing)}"


def test_every_problem_is_mentioned_in_readme_or_docs() -> None:
    if not README.is_file():
        pytest.skip("README.md is absent")
    texts = [README.read_text()] + [p.read_text() for p in sorted((REPO / "docs").glob("*.md"))]
    missing = [p.name for p in PROBLEMS if not any(p.name in t for t in texts)]
    assert not missing, f"problem(s) not mentioned in README.md or docs/: {', '.join(missing)}"


def test_every_input_limit_is_in_the_reliability_doc() -> None:
    from pinnrun.spec import limits

    text = (REPO / "docs" / "reliability.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `MAX_")}
    for name, value in vars(limits).items():
        if name.startswith("MAX_"):
            assert f"`{name}`" in rows, f"docs/reliability.md does not list {name}"
            if isinstance(value, float):
                shown = f"{value:.0e}".replace("e+", "e")  # 1e30
            else:
                shown = f"{value // 2**20} MiB" if value >= 2**20 else f"{value:,}"
            assert shown in rows[f"`{name}`"], f"docs/reliability.md gives {name} a value other than {shown}"
