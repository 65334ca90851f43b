"""Fuzzing `pinnrun validate`: whatever a spec holds, the answer is "valid" (exit 0) or
`error: ...` lines (one per error found, at most MAX_REPORTED) and exit 2; never a traceback, a
hang or an internal error.

Specs are the shipped problems with one or two hostile edits: a field replaced by a value of
the wrong kind, a hostile expression, a huge number, a deleted or unknown key, or raw bytes
spliced into the YAML text. Hypothesis runs seeded and bounded, in process through click's
runner (a subprocess per spec would take minutes).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from pinnrun.cli import main
from pinnrun.spec.loader import MAX_REPORTED
from tests.helpers import PROBLEMS, spec_dict

SHIPPED = sorted(p.stem for p in PROBLEMS.glob("*.yaml"))

# Values a careless or hostile author might write into any field.
HOSTILE_STRINGS = [
    "",
    " ",
    "u",
    "x",
    "1/0",
    "log(0)",
    "sqrt(-1)",
    "exp(1000)",
    "(-8)**(1/3)",
    "9**9**9**9",
    "u_xx + 9**9**9**9*u",
    "__import__('os').system('true')",
    "().__class__",
    "u.real",
    "u[0]",
    "lambda: 0",
    "u if u else 1",
    "u # comment",
    "\uff55_xx",
    "u\x00",
    "u\x1b[31m",
    "u\nv",
    "$(touch /tmp/pinnrun-fuzz)",
    "`id`",
    "; rm -rf /",
    "-" * 600 + "1",
    "+".join(["1"] * 900),
    "(" * 300 + "1" + ")" * 300,
    "u_" + "x" * 200,
    "sin(" * 120 + "x" + ")" * 120,
    "1e308*10",
    "-1e308*10",
    "nan",
    "inf",
    "true",
    "null",
    "~",
    "&a",
    "*a",
    "{a: 1}",
    "[1, 2]",
    "x" * 20000,
]
NUMBERS = [0, -1, 1, 2**31, 2**63, 10**30, 1e15, 1e308, -1e308, 1e-320, 0.5, math.pi]


def scalars():
    return st.one_of(
        st.sampled_from(HOSTILE_STRINGS),
        st.sampled_from(NUMBERS),
        st.booleans(),
        st.none(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
    )


def values():
    return st.recursive(
        scalars(),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=8,
    )


def paths(data, prefix=()):
    """Every field path in `data`, containers included."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += paths(value, prefix + (i,))
    return found


def edit(data, path, op, value):
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "replace":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    elif op == "wrap":
        parent[last] = [parent[last]]
    elif op == "unknown" and isinstance(parent, dict):
        parent[f"{last}_x"] = value


@st.composite
def mutated_specs(draw) -> bytes:
    data = spec_dict(draw(st.sampled_from(SHIPPED)))
    for _ in range(draw(st.integers(1, 2))):
        where = paths(data)
        if not where:
            break
        edit(
            data,
            draw(st.sampled_from(where)),
            draw(st.sampled_from(["replace", "replace", "delete", "wrap", "unknown"])),
            draw(values()),
        )
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
    if draw(st.integers(0, 4)) == 0:  # raw bytes spliced into the text
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(max_size=12)) + text[at:]
    return text


def assert_one_line_or_valid(result, what: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{what}: raised {result.exception!r}"
    assert result.exit_code in (0, 2), f"{what}: exit {result.exit_code}: {result.output}"
    if result.exit_code == 2:  # one line per error found (a spec's shape errors are all listed)
        lines = result.stderr.splitlines()
        assert 1 <= len(lines) <= MAX_REPORTED, f"{what}: {result.stderr!r}"
        assert all(line.startswith("error: ") and len(line) <= 1000 for line in lines), f"{what}: {result.stderr!r}"
        assert len(set(lines)) == len(lines), f"{what}: an error repeated: {result.stderr!r}"
    assert "Traceback" not in result.output


SETTINGS = dict(
    max_examples=2000, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(scope="module")
def outcomes():
    """Exit codes seen per fuzz test. A fuzz whose edits never break a spec (or always do) checks
    little: after a whole run (seeded; about 95% of the mutated specs and 99% of the --set lists
    were refused when this was written), both answers must really occur."""
    seen = {"specs": Counter(), "overrides": Counter()}
    yield seen
    for name, counts in seen.items():
        total = sum(counts.values())
        if total >= 500:  # a whole run, not a -k subset
            assert counts[2] >= total // 2, f"{name}: only {counts[2]} of {total} refused"
    specs = seen["specs"]
    if sum(specs.values()) >= 2000:
        assert specs[0] >= 20, f"only {specs[0]} mutated specs stayed valid: the edits always break them"


@pytest.mark.slow
@seed(11)
@settings(**SETTINGS)
@given(text=mutated_specs())
def test_mutated_specs_are_valid_or_one_line(tmp_path_factory, outcomes, text):
    path = Path(tmp_path_factory.mktemp("fuzz")) / "spec.yaml"
    path.write_bytes(text)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert_one_line_or_valid(result, text[:300])
    outcomes["specs"][result.exit_code] += 1


@st.composite
def overrides(draw) -> list[str]:
    data = spec_dict("poisson1d")
    keys = [".".join(map(str, p)) for p in paths(data)] + ["", ".", "a..b", "network.hidden.99", "x" * 300]
    out = []
    for _ in range(draw(st.integers(1, 3))):
        value = draw(
            st.one_of(st.sampled_from(HOSTILE_STRINGS + ["[" * 600, "{a: " * 200, "&a [*a]"]), st.text(max_size=30))
        )
        out += ["--set", f"{draw(st.sampled_from(keys))}={value}"]
    return out


@pytest.mark.slow
@seed(12)
@settings(**{**SETTINGS, "max_examples": 500})
@given(args=overrides())
def test_hostile_overrides_are_valid_or_one_line(outcomes, args):
    result = CliRunner().invoke(main, ["validate", str(PROBLEMS / "poisson1d.yaml"), *args])
    assert_one_line_or_valid(result, " ".join(args)[:300])
    outcomes["overrides"][result.exit_code] += 1
