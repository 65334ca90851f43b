"""The corpus in tests/hostile/expressions.yaml, put into every field that holds an expression.

A refused expression gives one `error: file:line: field: message` line naming that field and
exit 2; nothing in it is ever run (no marker file appears); deep or long legal expressions
are valid or refused, in bounded time.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pinnrun.cli import main
from tests.helpers import spec_dict, write_spec

CORPUS = yaml.safe_load((Path(__file__).parent / "hostile" / "expressions.yaml").read_text())

GENERATED = {
    "DEEP_UNARY": "-" * 600 + "1",
    "LONG_SUM": " + ".join(["x"] * 900),
    "LONG_PRODUCT": "*".join(["1.001"] * 900),
    "DEEP_PARENS": "(" * 300 + "x" + ")" * 300,
    "DEEP_CALLS": "sin(" * 150 + "x" + ")" * 150,
    "HUGE": "+".join(["x"] * 10000),
    "RIGHT_POWER": "**".join(["2"] * 50),
}

# (problem, field path) of every place an expression can stand.
PLACES = [
    ("poisson1d", ("pde", "poisson")),
    ("poisson1d", ("conditions", "left", "value")),
    ("poisson1d", ("reference", "exact")),
    ("poisson1d", ("constants", "k")),
    ("burgers", ("network", "output_transform", "u")),
    ("burgers", ("reference", "cole_hopf", "viscosity")),
    ("burgers", ("reference", "cole_hopf", "initial")),
]


def _spec_with(tmp_path: Path, problem: str, path: tuple, expression: str) -> Path:
    data = spec_dict(problem)
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = expression
    return write_spec(tmp_path, data)


def _validate(spec: Path):
    return CliRunner().invoke(main, ["validate", str(spec)])


@pytest.mark.slow
@pytest.mark.parametrize("place", PLACES, ids=lambda p: f"{p[0]}:{'.'.join(p[1])}")
def test_every_hostile_expression_is_refused_naming_its_field(tmp_path, place):
    problem, path = place
    field = ".".join(path)
    mark = tmp_path / "MARK"
    for source in CORPUS["refused"]:
        result = _validate(_spec_with(tmp_path, problem, path, source.replace("MARK", str(mark))))
        lines = result.stderr.splitlines()
        assert result.exit_code == 2, (source, result.output)
        assert len(lines) == 1 and lines[0].startswith("error: "), (source, result.stderr)
        assert f": {field}: " in lines[0], (source, lines[0])
        assert not mark.exists(), source


@pytest.mark.slow
@pytest.mark.parametrize("name", CORPUS["bounded"])
def test_deep_and_long_expressions_are_valid_or_one_line_in_bounded_time(tmp_path, name):
    for problem, path in PLACES:
        started = time.perf_counter()
        result = _validate(_spec_with(tmp_path, problem, path, GENERATED[name]))
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            name,
            path,
            repr(result.exception),
        )
        assert result.exit_code in (0, 2), (name, path, result.output)
        if result.exit_code == 2:
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and f": {'.'.join(path)}: " in lines[0], (name, path, result.stderr)
        assert time.perf_counter() - started < 10, (name, path)  # a hang guard, not a speed target
