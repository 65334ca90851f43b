"""`pinnrun schema`: the JSON Schema an editor checks a spec with agrees with what pinnrun itself
accepts: every shipped problem and documented example passes it, and a field pinnrun refuses
for its shape (unknown key, wrong type, out of bounds) fails it too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from helpers import PROBLEMS, ROOT
from pinnrun.errors import SpecError
from pinnrun.spec.json_schema import json_schema
from pinnrun.spec.yaml_lines import load_located
from test_cli_errors import pinnrun

SHIPPED = sorted(PROBLEMS.glob("*.yaml"))
_YAML = re.compile(r"^```yaml[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def data_of(text: str, name: str = "spec.yaml"):
    return load_located(text, name).data  # YAML 1.2 as pinnrun reads it (`on:` is a string key)


def errors(kind: str, data) -> list[str]:
    return [e.message for e in validator(kind).iter_errors(data)]


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_problem_passes(path):
    assert errors("problem", data_of(path.read_text(), str(path))) == []


def test_the_documented_cluster_specs_pass():
    blocks = [b for b in _YAML.findall((ROOT / "docs" / "cluster.md").read_text()) if re.search(r"^hosts:", b, re.M)]
    assert blocks
    for block in blocks:
        assert errors("cluster", data_of(block)) == [], block


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, field",
    [
        (lambda d: d.update(solver="fast"), "solver"),  # unknown key
        (lambda d: d["network"].update(hidden="32"), "hidden"),  # wrong type
        (lambda d: d["training"]["adam"].update(steps=-5), "steps"),  # out of bounds
        (lambda d: d["network"].update(activation="relu6"), "activation"),  # not a choice
        (lambda d: d["training"].update(micro_batch=0), "micro_batch"),  # optional field's bound
        (lambda d: d["sampling"].update(method="grid"), "method"),
    ],
)
def test_what_pinnrun_refuses_for_its_shape_fails_the_schema(tmp_path, change, field):
    from pinnrun.spec.loader import load_spec

    path = PROBLEMS / "poisson1d.yaml"
    data = data_of(path.read_text())
    change(data)
    assert errors("problem", data), field
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps(data))  # JSON is YAML
    with pytest.raises(SpecError) as err:
        load_spec(bad)
    assert field in str(err.value)


def test_cluster_bounds_are_json_schema_keywords():
    text = json.dumps(json_schema("cluster")) + json.dumps(json_schema("problem"))
    assert not re.search(r'"(ge|le|gt|lt)":', text)  # pydantic's own names would be ignored by editors
    assert errors("cluster", {"hosts": [{"name": "a", "gpus": -1}]})
    assert errors("cluster", {"hosts": [{"name": "a", "gpus": 2}], "ssh_port": 22}) == []


@pytest.mark.slow
def test_the_command_writes_the_schema_and_never_over_a_file(tmp_path):
    proc = pinnrun("schema", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout) == json_schema("problem")
    proc = pinnrun("schema", "cluster", "--out", "cluster.schema.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "cluster.schema.json").read_text()) == json_schema("cluster")
    again = pinnrun("schema", "--out", "cluster.schema.json", cwd=tmp_path)
    assert again.returncode == 2 and "cluster.schema.json" in again.stderr
    assert json.loads((tmp_path / "cluster.schema.json").read_text()) == json_schema("cluster")


def test_a_spec_that_names_the_schema_still_loads(tmp_path):
    from pinnrun.spec.loader import load_spec

    path = tmp_path / "p.yaml"
    path.write_text(
        "# yaml-language-server: $schema=pinnrun-problem.schema.json\n" + (PROBLEMS / "poisson1d.yaml").read_text()
    )
    assert load_spec(path).spec.name == "poisson1d"


def test_schema_names_every_top_level_field():
    from pinnrun.spec.schema import Spec

    assert set(json_schema("problem")["properties"]) == set(Spec.model_fields)
    assert Path(ROOT / "docs" / "spec.md").read_text().count("yaml-language-server") >= 1
