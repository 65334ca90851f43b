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
    """What validation says: the spec's own checks and the problem's (domain, terms, data, reference)."""
    from pinnrun.problem.build import load_problem

    with pytest.raises(SpecError) as info:
        load_problem(path, list(overrides))
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
    sampled = {name for name, c in loaded.spec.conditions.items() if c.kind != "data"}  # data: the file's points
    assert set(loaded.spec.sampling.points) == set(loaded.spec.pde) | sampled
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
    assert {
        "name",
        "variables",
        "outputs",
        "geometry",
        "pde",
        "conditions",
        "sampling",
        "network",
        "training",
        "scaling",
        "reference",
    } <= set(allowed)
    assert "bogus" not in allowed


# Each row edits POISSON once (`old` -> `new`) and gives the exact line, field path
# and message fragments of the one-line error.
@pytest.mark.parametrize(
    "old,new,line,field,fragments",
    [
        pytest.param(
            ADAM,
            "adam: {steps: 2000, learning_rate: 1.0e-3, foo: 1}",
            24,
            "training.adam.foo",
            ["unknown key 'foo'", "steps", "learning_rate"],
            id="unknown-nested-key",
        ),
        pytest.param(
            "  dtype: float64\n",
            "  dtype: float64\n  dropout: 0.1\n",
            22,
            "network.dropout",
            ["unknown key 'dropout'", "activation"],
            id="unknown-key-on-its-own-line",
        ),
        pytest.param(
            "points: {poisson: 256",
            'points: {poisson: "many"',
            17,
            "sampling.points.poisson",
            ["integer", "'many'"],
            id="wrong-type",
        ),
        pytest.param(
            "hidden: [32, 32, 32]",
            "hidden: [32, wide, 32]",
            19,
            "network.hidden[1]",
            ["integer", "'wide'"],
            id="wrong-type-list-item",
        ),
        pytest.param(
            "steps: 2000",
            "steps: -5",
            24,
            "training.adam.steps",
            ["greater than or equal to 0", "-5"],
            id="negative-steps",
        ),
        pytest.param("steps: 2000", "steps: 2.5", 24, "training.adam.steps", ["2.5"], id="fractional-steps"),
        pytest.param(
            "hidden: [32, 32, 32]", "hidden: []", 19, "network.hidden", ["at least 1"], id="empty-hidden-layers"
        ),
        pytest.param(
            "hidden: [32, 32, 32]",
            "hidden: [32, 0, 32]",
            19,
            "network.hidden[1]",
            ["greater than 0"],
            id="zero-width-layer",
        ),
        # The geometry model checks its bounds as a whole, so the error points at `geometry:`.
        pytest.param(
            "interval: [-1, 1]",
            "interval: [1, -1]",
            8,
            "geometry",
            ["[1.0, -1.0]", "increasing"],
            id="decreasing-interval",
        ),
        pytest.param(
            "interval: [-1, 1]",
            "interval: [a, 1]",
            9,
            "geometry.interval[0]",
            ["number", "'a'"],
            id="interval-item-of-wrong-type",
        ),
        # a missing key points at its parent's line
        pytest.param(
            f"  {ADAM}\n", "", 22, "training.adam", ["required field is missing"], id="missing-required-section"
        ),
        pytest.param(
            "u_xx + pi**2", "u_xx + q*pi**2", 11, "pde.poisson", ["unknown name 'q'"], id="unknown-name-in-residual"
        ),
        pytest.param(
            "u_xx + pi**2",
            "u_z + pi**2",
            11,
            "pde.poisson",
            ["u_z", "'z' is not an input variable"],
            id="derivative-of-unknown-variable",
        ),
        pytest.param(
            "poisson: u_xx + pi**2 * sin(pi*x)",
            "poisson: sin(pi*x)",
            11,
            "pde.poisson",
            ["output"],
            id="residual-without-output",
        ),
        pytest.param(
            "on: left",
            "on: top",
            13,
            "conditions.left.on",
            ["left, right, boundary"],
            id="condition-on-unknown-boundary-part",
        ),
        pytest.param(
            "on: left, ", "", 13, "conditions.left.on", ["required field is missing"], id="condition-without-on"
        ),
        pytest.param(
            "on: left, value: 0",
            "on: left, value: u",
            13,
            "conditions.left.value",
            ["unknown name 'u'"],
            id="condition-value-uses-output",
        ),
        pytest.param(
            "left: {kind: dirichlet, on: left, value: 0}",
            "left: {kind: initial, value: 0}",
            13,
            "conditions.left.kind",
            ["needs variables.time"],
            id="initial-condition-without-time-variable",
        ),
        pytest.param(
            "outputs: [u]\n",
            "outputs: [u]\ntime_domain: [0, 1]\n",
            8,
            "time_domain",
            ["give both or neither"],
            id="time-domain-without-time-variable",
        ),
        pytest.param("left: 1, ", "", 17, "sampling.points", ["no point count", "left"], id="term-without-point-count"),
        pytest.param(
            "left: 1, ",
            "left: 1, middle: 3, ",
            17,
            "sampling.points.middle",
            ["unknown term", "poisson, left, right"],
            id="points-for-unknown-term",
        ),
        pytest.param(
            "  lbfgs: {steps: 500}\n",
            "  lbfgs: {steps: 500}\n  loss_weights: {middle: 2}\n",
            26,
            "training.loss_weights.middle",
            ["unknown term"],
            id="loss-weight-for-unknown-term",
        ),
        pytest.param(
            "  lbfgs: {steps: 500}\n",
            "  lbfgs: {steps: 500}\n  loss_weights: {left: -2}\n",
            26,
            "training.loss_weights.left",
            [">= 0"],
            id="negative-loss-weight",
        ),
        pytest.param(
            "  exact: sin(pi*x)\n",
            "  file: missing.npz\n",
            29,
            "reference.file",
            ["file not found", "missing.npz"],
            id="reference-file-missing",
        ),
        pytest.param(
            "grid: {x: 1001}",
            "grid: {y: 3}",
            30,
            "reference.grid.y",
            ["not an input variable"],
            id="reference-grid-for-unknown-variable",
        ),
        pytest.param(
            "outputs: [u]\n",
            "outputs: [u]\nconstants:\n  k: 1/0\n",
            9,
            "constants.k",
            ["cannot evaluate"],
            id="constant-that-does-not-evaluate",
        ),
        pytest.param("outputs: [u]", "outputs: [x]", 7, "outputs", ["'x' is used twice"], id="name-used-twice"),
        pytest.param(
            "  activation: tanh",
            "  activation: tanh: x",
            20,
            "",
            ["invalid YAML", "mapping values are not allowed"],
            id="invalid-yaml-syntax-gives-line-of-error",
        ),
        pytest.param("  method: sobol", "\tmethod: sobol", 16, "", ["invalid YAML"], id="tab-indentation"),
        pytest.param(
            "activation: tanh",
            "activation: !!python/object/apply:os.getcwd []",
            20,
            "",
            ["invalid YAML"],
            id="unsafe-yaml-tag-is-refused",
        ),
        pytest.param(
            "  activation: tanh\n",
            "  activation: tanh\n  activation: sin\n",
            21,
            "",
            ["duplicate key 'activation'", "first on line 20"],
            id="duplicate-key",
        ),
        pytest.param(
            "grid: {x: 1001}", "grid: {[x]: 1001}", 30, "", ["invalid YAML"], id="unhashable-key-is-a-spec-error"
        ),
    ],
)
def test_bad_spec_is_located(tmp_path: Path, old: str, new: str, line: int, field: str, fragments: list[str]) -> None:
    path = write(tmp_path, edit(POISSON, old, new))
    assert_located(spec_error(path), path, line, field, *fragments)


def test_reference_with_two_sources(tmp_path: Path) -> None:
    (tmp_path / "ref.npz").write_bytes(b"")
    text = edit(POISSON, "  exact: sin(pi*x)\n", "  exact: sin(pi*x)\n  file: ref.npz\n")
    path = write(tmp_path, text)
    assert_located(spec_error(path), path, 28, "reference", "exactly one of: exact, file, cole_hopf")


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
    # a CSV needs rows of numbers under its header; a file of another kind is refused
    (sub / "ref.csv").write_text("x,u\n")
    bad = write(sub, edit(POISSON, "  exact: sin(pi*x)\n", "  file: ref.csv\n"), "bad.yaml")
    assert_located(spec_error(bad), bad, 29, "reference.file", "ref.csv", "no rows of numbers")
    (sub / "ref.txt").write_text("x u\n")
    other = write(sub, edit(POISSON, "  exact: sin(pi*x)\n", "  file: ref.txt\n"), "other.yaml")
    assert_located(spec_error(other), other, 29, "reference.file", ".npz, .csv or .mat")


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, POISSON + "name: again\n")
    assert_located(spec_error(path), path, 31, "", "duplicate key 'name'", "first on line 3")


def test_spec_that_is_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, "- name: poisson\n- outputs: [u]\n")
    assert_located(spec_error(path), path, 1, "", "a spec must be a YAML mapping")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert_located(spec_error(path), path, None, "", "cannot read")


def test_non_string_key_points_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, POISSON + "1: 2\n")
    err = spec_error(path)
    assert err.line == 31, str(err)


@pytest.mark.parametrize(
    "old,new,line",
    [
        ("interval: [-1, 1]", "interval: [-1, .inf]", 8),
        ("outputs: [u]\n", "outputs: [u]\ntime_domain: [0, .inf]\n", 9),
        ("learning_rate: 1.0e-3", "learning_rate: .inf", 24),
    ],
    ids=["interval", "time_domain", "learning_rate"],
)
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


@pytest.mark.parametrize(
    "text,where",
    [
        ("name.x=1", "name.x"),  # into a string
        ("network.hidden.9=3", "network.hidden.9"),  # past the end of a list
        ("network.hidden.0.x=1", "network.hidden.0.x"),
    ],
)
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
    assert parse_override('a="x # y"') == (("a",), "x # y")  # quoted: '#' is part of the value
    with pytest.raises(PinnrunError, match=r"^--set pde\.u: '#' starts a YAML comment, which would drop '# \+ f'"):
        parse_override("pde.u=u_xx # + f")  # YAML alone would silently keep u_xx


def test_a_key_an_override_adds_is_blamed_on_the_override(tmp_path: Path) -> None:
    spec = write(tmp_path, POISSON)
    err = spec_error(spec, ["network.foo.bar=1"])
    assert str(err) == (
        f"{spec}: --set network.foo: unknown key 'foo' "
        "(allowed: hidden, activation, initializer, dtype, output_transform, fourier_features, "
        "periodic)"
    )
    bad = write(tmp_path, POISSON.replace("activation: tanh", "activation: relu"), "bad.yaml")
    err = spec_error(bad, ["network.hidden=[8]"])  # an override beside a field the file gets wrong
    assert str(err).startswith(f"{bad}:20: network.activation: ")


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


@pytest.mark.slow
def test_cli_validate_bad_spec(tmp_path: Path) -> None:
    write(tmp_path, edit(POISSON, "steps: 2000", "steps: -5"), "bad.yaml")
    line = assert_one_line_error(pinnrun("validate", "bad.yaml", cwd=tmp_path), "bad.yaml:24: training.adam.steps: ")
    assert "-5" in line


@pytest.mark.slow
def test_cli_train_dry_run_bad_spec(tmp_path: Path) -> None:
    write(tmp_path, edit(POISSON, "u_xx + pi**2", "u_z + pi**2"), "bad.yaml")
    proc = pinnrun("train", "bad.yaml", "--np", "2", "--dry-run", cwd=tmp_path)
    assert_one_line_error(proc, "bad.yaml:11: pde.poisson: ")
    assert proc.stdout == ""  # nothing printed: no command, no run
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_cli_set_errors(tmp_path: Path) -> None:
    spec = write(tmp_path, POISSON, "ok.yaml")
    line = assert_one_line_error(
        pinnrun("validate", "ok.yaml", "--set", "training.adam.steps=-1", cwd=tmp_path), "ok.yaml: "
    )
    assert "--set training.adam.steps: " in line
    result = in_process("validate", str(spec), "--set", "training.adam.steps")
    assert result.exit_code == 2
    assert result.stderr == "error: --set training.adam.steps: expected KEY=VALUE, e.g. training.adam.steps=2000\n"


def test_cli_missing_file(tmp_path: Path) -> None:
    result = in_process("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'nope.yaml'}: cannot read")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.slow
def test_cli_unhashable_key_no_traceback(tmp_path: Path) -> None:
    write(tmp_path, edit(POISSON, "grid: {x: 1001}", "grid: {[x]: 1001}"), "bad.yaml")
    assert_one_line_error(pinnrun("validate", "bad.yaml", cwd=tmp_path), "bad.yaml:30: ")
