"""Spec validation: every bad spec fails before any process starts, as one
`file:line: field.path: what is wrong` line with exit status 2, never a traceback."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pinnrun.errors import PinnrunError, SpecError
from pinnrun.spec.loader import dump_spec, load_spec
from pinnrun.spec.overrides import apply_overrides, parse_override

REPO = Path(__file__).resolve().parents[1]
PROBLEMS = sorted((REPO / "problems").glob("*.yaml"))

# A fixed copy of problems/poisson1d.yaml, so the line numbers below stay exact
# even if the example file is edited. Line numbers (1-based):
#  3 name / 5 variables / 6 space / 7 outputs / 8 geometry / 9 interval / 10 pde /
# 11 poisson / 12 conditions / 13 left / 14 right / 15 sampling / 17 points /
# 18 network / 19 hidden / 22 training / 24 adam / 25 lbfgs / 26 log_every /
# 28 reference / 29 exact / 30 grid
POISSON = """\
# 1D Poisson: the test problem of the data-parallel PINN paper.
#   u''(x) = -pi^2 sin(pi x) on [-1, 1], u(-1) = u(1) = 0; exact u = sin(pi x).
name: poisson1d
description: "u_xx = -pi^2 sin(pi x), u(+-1) = 0"
variables:
  space: [x]
outputs: [u]
geometry:
  interval: [-1, 1]
pde:
  poisson: u_xx + pi**2 * sin(pi*x)
conditions:
  left: {kind: dirichlet, on: left, value: 0}
  right: {kind: dirichlet, on: right, value: 0}
sampling:
  method: sobol
  points: {poisson: 256, left: 1, right: 1}
network:
  hidden: [32, 32, 32]
  activation: tanh
  dtype: float64
training:
  seed: 0
  adam: {steps: 2000, learning_rate: 1.0e-3}
  lbfgs: {steps: 500}
  log_every: 100
scaling: weak
reference:
  exact: sin(pi*x)
  grid: {x: 1001}
"""
ADAM = "adam: {steps: 2000, learning_rate: 1.0e-3}"


def edit(text: str, old: str, new: str) -> str:
    """Replace `old` (which must occur exactly once) by `new`."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def spec_error(path: Path, overrides=()) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(path, list(overrides))
    return info.value


def assert_located(err: SpecError, path: Path, line: int | None, field: str, *fragments: str) -> None:
    """The one-line message is exactly `file:line: field: ...` and mentions every fragment."""
    assert (err.file, err.line, err.field) == (str(path), line, field), str(err)
    where = f"{path}:{line}" if line else str(path)
    prefix = f"{where}: {field}: " if field else f"{where}: "
    text = str(err)
    assert text.startswith(prefix), text
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"


# --------------------------------------------------------------------------
# The shipped examples
# --------------------------------------------------------------------------

def test_the_three_example_problems_exist() -> None:
    assert {"burgers", "heat1d", "poisson1d"} <= {p.stem for p in PROBLEMS}


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_example_problem_loads(path: Path) -> None:
    loaded = load_spec(path)
    assert loaded.spec.name == path.stem
    assert loaded.path == path.resolve()
    assert set(loaded.spec.sampling.points) == set(loaded.spec.pde) | set(loaded.spec.conditions)
    # constants are evaluated to numbers
    assert all(isinstance(v, float) for v in loaded.constants.values())


def test_example_constants_are_evaluated() -> None:
    import math

    assert load_spec(REPO / "problems/burgers.yaml").constants == {"nu": pytest.approx(0.01 / math.pi)}
    assert load_spec(REPO / "problems/heat1d.yaml").constants == {"k": pytest.approx(0.1)}


def test_embedded_copy_is_valid(tmp_path: Path) -> None:
    loaded = load_spec(write(tmp_path, POISSON))
    assert loaded.spec.training.adam.steps == 2000
    assert loaded.spec.geometry.interval == (-1.0, 1.0)


def test_on_key_stays_a_string_yaml_1_2_booleans(tmp_path: Path) -> None:
    """YAML 1.1 reads `on:` as True; the loader must keep the key 'on'."""
    spec = load_spec(write(tmp_path, POISSON)).spec
    assert spec.conditions["left"].on == "left"
    assert spec.conditions["right"].on == "right"
    # ...and yes/no/off stay strings too, while true/false are still booleans
    text = edit(POISSON, 'description: "u_xx = -pi^2 sin(pi x), u(+-1) = 0"', "description: yes")
    assert load_spec(write(tmp_path, text)).spec.description == "yes"
    from pinnrun.spec.yaml_lines import load_located

    data = load_located("a: on\nb: off\nc: true\nd: False\non: 1\n", "x.yaml").data
    assert data == {"a": "on", "b": "off", "c": True, "d": False, "on": 1}


# --------------------------------------------------------------------------
# Bad specs: exact line and field path
# --------------------------------------------------------------------------

def test_unknown_top_level_key_names_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, POISSON + "bogus: 1\n")
    err = spec_error(path)
    assert_located(err, path, 31, "bogus", "unknown key 'bogus'", "allowed:")
    allowed = str(err).split("allowed: ", 1)[1].rstrip(")").split(", ")
    assert {"name", "variables", "outputs", "geometry", "pde", "conditions", "sampling",
            "network", "training", "scaling", "reference"} <= set(allowed)
    assert "bogus" not in allowed


def test_unknown_nested_key(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, ADAM, "adam: {steps: 2000, learning_rate: 1.0e-3, foo: 1}"))
    err = spec_error(path)
    assert_located(err, path, 24, "training.adam.foo", "unknown key 'foo'", "steps", "learning_rate")


def test_unknown_key_on_its_own_line(tmp_path: Path) -> None:
    text = edit(POISSON, "  dtype: float64\n", "  dtype: float64\n  dropout: 0.1\n")
    path = write(tmp_path, text)
    assert_located(spec_error(path), path, 22, "network.dropout", "unknown key 'dropout'", "activation")


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "points: {poisson: 256", 'points: {poisson: "many"'))
    assert_located(spec_error(path), path, 17, "sampling.points.poisson", "integer", "'many'")


def test_wrong_type_list_item(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "hidden: [32, 32, 32]", "hidden: [32, wide, 32]"))
    assert_located(spec_error(path), path, 19, "network.hidden[1]", "integer", "'wide'")


def test_negative_steps(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "steps: 2000", "steps: -5"))
    assert_located(spec_error(path), path, 24, "training.adam.steps", "greater than or equal to 0", "-5")


def test_fractional_steps(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "steps: 2000", "steps: 2.5"))
    assert_located(spec_error(path), path, 24, "training.adam.steps", "2.5")


def test_empty_hidden_layers(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "hidden: [32, 32, 32]", "hidden: []"))
    assert_located(spec_error(path), path, 19, "network.hidden", "at least 1")


def test_zero_width_layer(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "hidden: [32, 32, 32]", "hidden: [32, 0, 32]"))
    assert_located(spec_error(path), path, 19, "network.hidden[1]", "greater than 0")


def test_decreasing_interval(tmp_path: Path) -> None:
    # The geometry model checks its bounds as a whole, so the error points at `geometry:`.
    path = write(tmp_path, edit(POISSON, "interval: [-1, 1]", "interval: [1, -1]"))
    assert_located(spec_error(path), path, 8, "geometry", "[1.0, -1.0]", "increasing")


def test_interval_item_of_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "interval: [-1, 1]", "interval: [a, 1]"))
    assert_located(spec_error(path), path, 9, "geometry.interval[0]", "number", "'a'")


def test_missing_required_section(tmp_path: Path) -> None:
    # a missing key points at its parent's line
    path = write(tmp_path, edit(POISSON, f"  {ADAM}\n", ""))
    assert_located(spec_error(path), path, 22, "training.adam", "required field is missing")


def test_unknown_name_in_residual(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "u_xx + pi**2", "u_xx + q*pi**2"))
    assert_located(spec_error(path), path, 11, "pde.poisson", "unknown name 'q'")


def test_derivative_of_unknown_variable(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "u_xx + pi**2", "u_z + pi**2"))
    assert_located(spec_error(path), path, 11, "pde.poisson", "u_z", "'z' is not an input variable")


def test_residual_without_output(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "poisson: u_xx + pi**2 * sin(pi*x)", "poisson: sin(pi*x)"))
    assert_located(spec_error(path), path, 11, "pde.poisson", "output")


def test_condition_on_unknown_boundary_part(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "on: left", "on: top"))
    assert_located(spec_error(path), path, 13, "conditions.left.on", "left, right, boundary")


def test_condition_without_on(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "on: left, ", ""))
    assert_located(spec_error(path), path, 13, "conditions.left", "on: one of left, right, boundary")


def test_condition_value_uses_output(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "on: left, value: 0", "on: left, value: u"))
    assert_located(spec_error(path), path, 13, "conditions.left.value", "unknown name 'u'")


def test_initial_condition_without_time_variable(tmp_path: Path) -> None:
    text = edit(POISSON, "left: {kind: dirichlet, on: left, value: 0}", "left: {kind: initial, value: 0}")
    path = write(tmp_path, text)
    assert_located(spec_error(path), path, 13, "conditions.left.kind", "needs variables.time")


def test_time_domain_without_time_variable(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "outputs: [u]\n", "outputs: [u]\ntime_domain: [0, 1]\n"))
    assert_located(spec_error(path), path, 8, "time_domain", "give both or neither")


def test_term_without_point_count(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "left: 1, ", ""))
    assert_located(spec_error(path), path, 17, "sampling.points", "no point count", "left")


def test_points_for_unknown_term(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "left: 1, ", "left: 1, middle: 3, "))
    assert_located(spec_error(path), path, 17, "sampling.points.middle", "unknown term", "poisson, left, right")


def test_loss_weight_for_unknown_term(tmp_path: Path) -> None:
    text = edit(POISSON, "  lbfgs: {steps: 500}\n", "  lbfgs: {steps: 500}\n  loss_weights: {middle: 2}\n")
    path = write(tmp_path, text)
    assert_located(spec_error(path), path, 26, "training.loss_weights.middle", "unknown term")


def test_negative_loss_weight(tmp_path: Path) -> None:
    text = edit(POISSON, "  lbfgs: {steps: 500}\n", "  lbfgs: {steps: 500}\n  loss_weights: {left: -2}\n")
    path = write(tmp_path, text)
    assert_located(spec_error(path), path, 26, "training.loss_weights.left", ">= 0")


def test_reference_with_two_sources(tmp_path: Path) -> None:
    (tmp_path / "ref.npz").write_bytes(b"")
    text = edit(POISSON, "  exact: sin(pi*x)\n", "  exact: sin(pi*x)\n  file: ref.npz\n")
    path = write(tmp_path, text)
    assert_located(spec_error(path), path, 28, "reference", "exactly one of: exact, file, cole_hopf")


def test_reference_file_missing(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "  exact: sin(pi*x)\n", "  file: missing.npz\n"))
    assert_located(spec_error(path), path, 29, "reference.file", "file not found", "missing.npz")


def test_reference_file_resolves_beside_the_spec(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    np.savez(sub / "ref.npz", x=np.linspace(-1, 1, 5), u=np.zeros(5))
    path = write(sub, edit(POISSON, "  exact: sin(pi*x)\n", "  file: ref.npz\n"))
    assert load_spec(path).spec.reference.file == "ref.npz"
    # its arrays are checked before any process starts
    np.savez(sub / "short.npz", x=np.linspace(-1, 1, 5))
    short = write(sub, edit(POISSON, "  exact: sin(pi*x)\n", "  file: short.npz\n"), "short.yaml")
    assert_located(spec_error(short), short, 29, "reference.file", "lacks array(s) u")
    (sub / "empty.npz").write_bytes(b"")
    empty = write(sub, edit(POISSON, "  exact: sin(pi*x)\n", "  file: empty.npz\n"), "empty.yaml")
    assert_located(spec_error(empty), empty, 29, "reference.file", "cannot read")
    # a non-.npz file is refused
    (sub / "ref.csv").write_text("x,u\n")
    bad = write(sub, edit(POISSON, "  exact: sin(pi*x)\n", "  file: ref.csv\n"), "bad.yaml")
    assert_located(spec_error(bad), bad, 29, "reference.file", ".npz")


def test_reference_grid_for_unknown_variable(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "grid: {x: 1001}", "grid: {y: 3}"))
    assert_located(spec_error(path), path, 30, "reference.grid.y", "not an input variable")


def test_constant_that_does_not_evaluate(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "outputs: [u]\n", "outputs: [u]\nconstants:\n  k: 1/0\n"))
    assert_located(spec_error(path), path, 9, "constants.k", "cannot evaluate")


def test_name_used_twice(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "outputs: [u]", "outputs: [x]"))
    assert_located(spec_error(path), path, 7, "outputs", "'x' is used twice")


def test_invalid_yaml_syntax_gives_line_of_error(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "  activation: tanh", "  activation: tanh: x"))
    assert_located(spec_error(path), path, 20, "", "invalid YAML", "mapping values are not allowed")


def test_tab_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "  method: sobol", "\tmethod: sobol"))
    assert_located(spec_error(path), path, 16, "", "invalid YAML")


def test_unsafe_yaml_tag_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "activation: tanh", "activation: !!python/object/apply:os.getcwd []"))
    assert_located(spec_error(path), path, 20, "", "invalid YAML")


def test_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "  activation: tanh\n", "  activation: tanh\n  activation: sin\n"))
    assert_located(spec_error(path), path, 21, "", "duplicate key 'activation'", "first on line 20")


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, POISSON + "name: again\n")
    assert_located(spec_error(path), path, 31, "", "duplicate key 'name'", "first on line 3")


def test_spec_that_is_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, "- name: poisson\n- outputs: [u]\n")
    assert_located(spec_error(path), path, 1, "", "a spec must be a YAML mapping")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert_located(spec_error(path), path, None, "", "cannot read")


def test_unhashable_key_is_a_spec_error(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "grid: {x: 1001}", "grid: {[x]: 1001}"))
    assert_located(spec_error(path), path, 30, "", "invalid YAML")


def test_non_string_key_points_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, POISSON + "1: 2\n")
    err = spec_error(path)
    assert err.line == 31, str(err)


@pytest.mark.parametrize("old,new,line", [
    ("interval: [-1, 1]", "interval: [-1, .inf]", 8),
    ("outputs: [u]\n", "outputs: [u]\ntime_domain: [0, .inf]\n", 9),
    ("learning_rate: 1.0e-3", "learning_rate: .inf", 24),
], ids=["interval", "time_domain", "learning_rate"])
def test_infinite_values_are_refused(tmp_path: Path, old: str, new: str, line: int) -> None:
    text = edit(POISSON, old, new)
    if "time_domain" in new:
        text = edit(text, "  space: [x]\n", "  space: [x]\n  time: t\n")
    path = write(tmp_path, text)
    err = spec_error(path)
    assert err.line in (line, line + 1), str(err)


# --------------------------------------------------------------------------
# --set overrides
# --------------------------------------------------------------------------

def test_override_changes_value(tmp_path: Path) -> None:
    path = write(tmp_path, POISSON)
    loaded = load_spec(path, ["training.adam.steps=7", "network.hidden=[8, 8]", "network.activation=sin"])
    assert loaded.spec.training.adam.steps == 7
    assert loaded.spec.network.hidden == [8, 8]
    assert loaded.spec.network.activation == "sin"
    assert load_spec(path).spec.training.adam.steps == 2000  # the file is not touched


def test_override_list_item(tmp_path: Path) -> None:
    loaded = load_spec(write(tmp_path, POISSON), ["network.hidden.1=64"])
    assert loaded.spec.network.hidden == [32, 64, 32]


def test_override_creates_missing_section(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "  lbfgs: {steps: 500}\n", ""))
    assert load_spec(path).spec.training.lbfgs is None
    loaded = load_spec(path, ["training.lbfgs.steps=3"])
    assert loaded.spec.training.lbfgs.steps == 3
    assert loaded.spec.training.lbfgs.history == 50  # the rest is defaulted


def test_override_bad_value_names_the_override(tmp_path: Path) -> None:
    path = write(tmp_path, POISSON)
    err = spec_error(path, ["training.adam.steps=-1"])
    # no file line: the value came from the command line
    assert_located(err, path, None, "--set training.adam.steps", "greater than or equal to 0", "-1")


def test_override_in_created_section_names_the_override(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "  lbfgs: {steps: 500}\n", ""))
    err = spec_error(path, ["training.lbfgs.steps=-3"])
    assert_located(err, path, None, "--set training.lbfgs.steps", "greater than or equal to 0")


def test_override_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, POISSON)
    err = spec_error(path, ["training.adam.foo=3"])
    assert_located(err, path, None, "--set training.adam.foo", "unknown key 'foo'")


def test_untouched_field_keeps_its_file_line(tmp_path: Path) -> None:
    path = write(tmp_path, edit(POISSON, "hidden: [32, 32, 32]", "hidden: []"))
    err = spec_error(path, ["training.adam.steps=7"])
    assert_located(err, path, 19, "network.hidden")


@pytest.mark.parametrize("text", ["training.adam.steps", "=3", " =3", ""])
def test_malformed_override(tmp_path: Path, text: str) -> None:
    with pytest.raises(PinnrunError, match=r"expected KEY=VALUE") as info:
        load_spec(write(tmp_path, POISSON), [text])
    assert str(info.value).startswith(f"--set {text}:")
    assert not isinstance(info.value, SpecError)


@pytest.mark.parametrize("text,where", [
    ("name.x=1", "name.x"),                    # into a string
    ("network.hidden.9=3", "network.hidden.9"),  # past the end of a list
    ("network.hidden.0.x=1", "network.hidden.0.x"),
])
def test_override_into_a_non_mapping(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(PinnrunError, match=re.escape(f"--set {text}:")) as info:
        load_spec(write(tmp_path, POISSON), [text])
    assert where in str(info.value)


def test_parse_override_values_are_yaml() -> None:
    assert parse_override("a.b=7") == (("a", "b"), 7)
    assert parse_override("a.0=1.5e-3") == (("a", 0), 1.5e-3)
    assert parse_override("a=[1, 2]") == (("a",), [1, 2])
    assert parse_override("a=x=y") == (("a",), "x=y")
    assert parse_override("a=") == (("a",), "")
    assert parse_override("a=[1,") == (("a",), "[1,")  # not YAML: kept as text


def test_apply_overrides_copies_and_reports_touched_paths() -> None:
    data = {"training": {"adam": {"steps": 1}}}
    new, touched = apply_overrides(data, ["training.adam.steps=5", "training.lbfgs.steps=2"])
    assert data == {"training": {"adam": {"steps": 1}}}
    assert new == {"training": {"adam": {"steps": 5}, "lbfgs": {"steps": 2}}}
    assert touched == {("training", "adam", "steps"), ("training", "lbfgs", "steps")}


# --------------------------------------------------------------------------
# dump_spec round trip
# --------------------------------------------------------------------------

@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_dump_spec_round_trips(tmp_path: Path, path: Path) -> None:
    loaded = load_spec(path)
    dumped = write(tmp_path, dump_spec(loaded.spec), "dumped.yaml")
    again = load_spec(dumped)
    assert again.spec == loaded.spec
    assert again.constants == loaded.constants
    # and dumping is stable
    assert dump_spec(again.spec) == dump_spec(loaded.spec)


def test_dump_spec_round_trips_overrides_and_on_keys(tmp_path: Path) -> None:
    loaded = load_spec(write(tmp_path, POISSON), ["training.adam.steps=7", "network.activation=sin"])
    text = dump_spec(loaded.spec)
    again = load_spec(write(tmp_path, text, "dumped.yaml")).spec
    assert again == loaded.spec
    assert again.training.adam.steps == 7
    assert again.conditions["left"].on == "left"


# --------------------------------------------------------------------------
# The command line: exit 2, one line on stderr, no traceback
# --------------------------------------------------------------------------

def pinnrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "pinnrun"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pinnrun.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.run(cmd + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, prefix: str) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: " + prefix), lines[0]
    return lines[0]


def in_process(*args: str):
    """The same click command in this process (fast; subprocesses check the real entry point)."""
    from click.testing import CliRunner

    from pinnrun.cli import main

    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_cli_validate_examples(path: Path) -> None:
    result = in_process("validate", str(path))
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.startswith(f"{path}: valid ({path.stem}; terms ")
    assert result.stderr == ""


def test_cli_validate_bad_spec(tmp_path: Path) -> None:
    write(tmp_path, edit(POISSON, "steps: 2000", "steps: -5"), "bad.yaml")
    line = assert_one_line_error(pinnrun("validate", "bad.yaml", cwd=tmp_path), "bad.yaml:24: training.adam.steps: ")
    assert "-5" in line


def test_cli_train_dry_run_bad_spec(tmp_path: Path) -> None:
    write(tmp_path, edit(POISSON, "u_xx + pi**2", "u_z + pi**2"), "bad.yaml")
    proc = pinnrun("train", "bad.yaml", "--np", "2", "--dry-run", cwd=tmp_path)
    assert_one_line_error(proc, "bad.yaml:11: pde.poisson: ")
    assert proc.stdout == ""  # nothing printed: no command, no run
    assert not (tmp_path / "runs").exists()


def test_cli_set_errors(tmp_path: Path) -> None:
    spec = write(tmp_path, POISSON, "ok.yaml")
    line = assert_one_line_error(
        pinnrun("validate", "ok.yaml", "--set", "training.adam.steps=-1", cwd=tmp_path), "ok.yaml: ")
    assert "--set training.adam.steps: " in line
    result = in_process("validate", str(spec), "--set", "training.adam.steps")
    assert result.exit_code == 2
    assert result.stderr == "error: --set training.adam.steps: expected KEY=VALUE, e.g. training.adam.steps=2000\n"


def test_cli_missing_file(tmp_path: Path) -> None:
    result = in_process("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'nope.yaml'}: cannot read")
    assert len(result.stderr.splitlines()) == 1


def test_cli_unhashable_key_no_traceback(tmp_path: Path) -> None:
    write(tmp_path, edit(POISSON, "grid: {x: 1001}", "grid: {[x]: 1001}"), "bad.yaml")
    assert_one_line_error(pinnrun("validate", "bad.yaml", cwd=tmp_path), "bad.yaml:30: ")
