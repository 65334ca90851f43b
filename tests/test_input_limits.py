"""Hostile input is refused in bounded time and memory, as one located line.

Each attack from issue 11 (alias bombs, deep nesting, recursive aliases, huge
or deep expressions, zip bombs, /dev/zero, FIFOs, bad bytes) is tried here,
mostly at a size just past the limit so the tests stay fast, and for the bombs
with the memory Python allocates measured (tracemalloc peak).
"""

from __future__ import annotations

import inspect
import io
import math
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy

from pinnrun.errors import PinnrunError, SpecError
from pinnrun.launch.cluster import load_cluster
from pinnrun.problem.build import load_problem
from pinnrun.problem.npz import NpzRefused, load_npz
from pinnrun.spec.expressions import ExpressionError, parse
from pinnrun.spec.limits import (
    MAX_EXPRESSION_CHARS,
    MAX_EXPRESSION_DEPTH,
    MAX_EXPRESSION_NODES,
    MAX_REFERENCE_BYTES,
    MAX_REFERENCE_MEMBERS,
    MAX_SPEC_FILE_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_VALUES,
)
from pinnrun.spec.loader import load_spec
from pinnrun.spec.overrides import parse_override
from pinnrun.spec.yaml_lines import load_located, load_located_file
from tests.helpers import PROBLEMS

POISSON = (PROBLEMS / "poisson1d.yaml").read_text()
MiB = 1024 * 1024

# The 9-level "billion laughs": 342 bytes that expand to 9**9 values.
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{new}: &{new} [*{old},*{old},*{old},*{old},*{old},*{old},*{old},*{old},*{old}]\n"
    for old, new in zip("abcdefgh", "bcdefghi")
)


@contextmanager
def bounded(seconds: float, megabytes: float):
    """The block finishes within `seconds` and Python allocates at most `megabytes` at peak."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / MiB
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert peak < megabytes, f"peak {peak:.1f} MB"


def assert_one_line(err: Exception, *fragments: str) -> str:
    text = str(err)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return text


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def write(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def located(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_located(text, "spec.yaml")
    return info.value


# --------------------------------------------------------------------------
# YAML: depth, aliases, characters
# --------------------------------------------------------------------------


def test_alias_bomb_is_refused_in_bounded_time_and_memory() -> None:
    assert len(ALIAS_BOMB) < 400
    with bounded(seconds=1, megabytes=5):
        err = located(ALIAS_BOMB)
    assert (err.file, err.line) == ("spec.yaml", 5)  # e: 9 aliases of 7,381 values each pass 20,000
    assert_one_line(err, f"more than {MAX_YAML_VALUES:,} values with aliases expanded")


def test_aliases_of_reasonable_size_still_load() -> None:
    data = load_located("base: &b {steps: 10, rate: 0.1}\nfirst: *b\nsecond: *b\n", "f.yaml").data
    assert data["first"] == data["second"] == {"steps": 10, "rate": 0.1}


@pytest.mark.slow
def test_value_limit_is_exact() -> None:
    # the mapping, the key, the list: 3 values besides the items
    items = MAX_YAML_VALUES - 3
    assert len(load_located("x: [" + "1, " * items + "]", "f.yaml").data["x"]) == items
    assert_one_line(located("x: [" + "1, " * (items + 1) + "]"), "values with aliases expanded")


def test_recursive_alias_is_refused_with_its_line() -> None:
    err = located("name: x\nloop: &a [1, *a]\n")
    assert err.line == 2
    assert_one_line(err, "alias *a is inside its own anchor &a")


@pytest.mark.slow
@pytest.mark.parametrize("text", ["x: " + "[" * 600, "x: " + "{a: " * 600, "- " * 600])
def test_deep_nesting_is_refused_before_pyyaml_recurses(text: str) -> None:
    with bounded(seconds=1, megabytes=10):
        err = located(text)
    assert err.line == 1
    assert_one_line(err, f"nested deeper than {MAX_YAML_DEPTH} levels")


def test_depth_limit_is_exact() -> None:
    inner = MAX_YAML_DEPTH - 1  # the top-level mapping is one level
    assert located("x: " + "[" * (inner + 1) + "]" * (inner + 1)).line == 1
    data = load_located("x: " + "[" * inner + "]" * inner, "f.yaml").data
    depth, node = 1, data["x"]
    while node:
        depth, node = depth + 1, node[0]
    assert depth == inner


def test_anchors_nested_in_anchors_count_at_their_expanded_depth() -> None:
    # 25 anchors of 60 levels, each holding the previous: 3 KB, 1,500 levels once expanded,
    # which overflowed PyYAML's recursive constructor
    chain = ["name: x"] + [f"k{k}: &a{k} " + "[" * 60 + (f"*a{k - 1}" if k else "1") + "]" * 60 for k in range(25)]
    with bounded(seconds=1, megabytes=10):
        err = located("\n".join(chain) + "\n")
    assert err.line == 3
    assert_one_line(err, f"nested deeper than {MAX_YAML_DEPTH} levels with aliases expanded")
    anchor = "[" * 32 + "1" + "]" * 32  # 32 levels; the top-level mapping is one more
    for outer, refused in ((MAX_YAML_DEPTH - 33, False), (MAX_YAML_DEPTH - 32, True)):
        text = f"x: &a {anchor}\ny: " + "[" * outer + "*a" + "]" * outer + "\n"
        if refused:
            assert located(text).line == 2
        else:
            assert load_located(text, "f.yaml").data["y"]


def test_deep_nesting_on_many_lines_names_the_line() -> None:
    err = located("x:\n" + "".join(" " * i + "- \n" for i in range(1, 200)))
    assert err.line == MAX_YAML_DEPTH + 1
    assert_one_line(err, "nested deeper")


def test_control_character_is_one_line_with_line_and_column() -> None:
    err = located("name: ok\nvalue: u\x1b[31m\n")
    assert err.line == 2
    assert_one_line(err, "control character U+001B at column 9 is not allowed")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1" * 5000, "cannot read this int: more than 4300 digits"),
        ("0x" + "f" * 5000, "cannot read this int: beyond the range of a float"),
        ("!!int abc", "cannot read this int: invalid literal"),
        ("!!timestamp 2001-99-99", "cannot read this timestamp: month must be in 1..12"),
    ],
)
def test_scalars_pyyaml_cannot_convert_are_located(value: str, message: str) -> None:
    err = located(f"name: ok\nvalue: {value}\n")
    assert err.line == 2
    assert_one_line(err, "invalid YAML: " + message)


def test_numbers_beyond_float_range_are_refused_as_expressions() -> None:
    with pytest.raises(ExpressionError, match="^number is too large$"):
        parse(10**400)


def test_set_values_have_the_same_bounds() -> None:
    for text, message in [
        ("x=" + "[" * 600, "nested deeper than"),
        ("x=&a [*a]", "inside its own anchor"),
        ("x=" + ALIAS_BOMB.replace("\n", ", ").join("{}"), "values with aliases expanded"),
        ("x=a\x07b", "control character U+0007"),
    ]:
        with pytest.raises(PinnrunError) as info:
            parse_override(text)
        assert assert_one_line(info.value, message).startswith("--set x: ")


def test_set_error_quotes_a_long_argument_shortened() -> None:
    with pytest.raises(PinnrunError) as info:
        parse_override("no-equals-sign " * 10_000)
    assert len(assert_one_line(info.value, "expected KEY=VALUE", "characters cut")) < 250


# --------------------------------------------------------------------------
# Spec and cluster files: regular files only, bounded size, UTF-8
# --------------------------------------------------------------------------


def file_error(path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_located_file(path)
    return info.value


def test_dev_zero_is_refused_without_reading() -> None:
    with bounded(seconds=1, megabytes=1):
        err = file_error("/dev/zero")
    assert str(err) == "/dev/zero: not a regular file (a character device)"


@pytest.mark.timeout(20)
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    assert str(file_error(fifo)) == f"{fifo}: not a regular file (a FIFO)"


def test_directory_and_missing_file(tmp_path: Path) -> None:
    assert str(file_error(tmp_path)) == f"{tmp_path}: not a regular file (a directory)"
    assert (
        str(file_error(tmp_path / "nope.yaml")) == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"
    )


def test_oversized_file_is_refused_after_reading_at_most_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# padding\n" * (MAX_SPEC_FILE_BYTES // 10 + 1))
    with bounded(seconds=1, megabytes=3):
        err = file_error(path)
    assert_one_line(err, "larger than 1.0 MiB, the limit for a spec or cluster file")


def test_non_utf8_names_the_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"name: ok\noutputs: [u]\nvalue: caf\xe9\n")
    err = file_error(path)
    assert (err.file, err.line) == (str(path), 3)
    assert_one_line(err, "not UTF-8 text: byte 0xe9 at column 11")


def test_crlf_files_keep_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"a: 1\r\nb: [1,\r\n  2]\r\nc: \x01\r\n")
    assert file_error(path).line == 4


def test_cluster_files_share_the_checks(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts:\n  - name: a\nenv: &a [*a]\n", "cluster.yaml")
    with pytest.raises(SpecError) as info:
        load_cluster(path)
    assert str(info.value).startswith(f"{path}:3: alias *a is inside its own anchor")
    with pytest.raises(SpecError) as info:
        load_cluster("/dev/zero")
    assert str(info.value) == "/dev/zero: not a regular file (a character device)"


# --------------------------------------------------------------------------
# Expressions: size, depth, stack safety, literal folding, characters
# --------------------------------------------------------------------------

BURGERS = dict(variables=("x", "t"), outputs=("u",), constants=("nu",))


def expression_error(source: str, **names) -> str:
    with pytest.raises(ExpressionError) as info:
        parse(source, **(names or BURGERS))
    return assert_one_line(info.value)


def test_ten_megabyte_expression_is_refused_before_parsing() -> None:
    source = "u+" * (5 * MiB) + "u"
    with bounded(seconds=0.5, megabytes=1):
        message = expression_error(source)
    assert message == f"expression is {len(source):,} characters long; the limit is {MAX_EXPRESSION_CHARS:,}"


def test_node_count_limit() -> None:
    terms = MAX_EXPRESSION_NODES // 2 + 50
    message = expression_error("+".join(["x"] * terms))
    assert (
        message == f"expression has {2 * terms - 1:,} parts (numbers, names, operators, calls); "
        f"the limit is {MAX_EXPRESSION_NODES:,}"
    )


def tf_value_and_gradient(expr, x: np.ndarray):
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = expr.evaluate({"x": xt}, backend="tf")
    return y.numpy(), tape.gradient(y, xt).numpy()


@pytest.mark.slow
def test_900_term_sum_and_600_unary_minuses_evaluate() -> None:
    x = np.linspace(0.0, 1.0, 4)
    total = parse("+".join(["x"] * 450 + ["1"] * 450), variables=["x"])
    np.testing.assert_allclose(total.evaluate({"x": x}), 450 * x + 450)
    value, grad = tf_value_and_gradient(total, x)
    np.testing.assert_allclose(value, 450 * x + 450)
    np.testing.assert_allclose(grad, np.full_like(x, 450))

    signs = parse("-" * 601 + "sin(x)", variables=["x"])  # odd: negative
    np.testing.assert_allclose(signs.evaluate({"x": x}), -np.sin(x))
    value, grad = tf_value_and_gradient(signs, x)
    np.testing.assert_allclose(grad, -np.cos(x))
    assert parse("-" * 600 + "1").evaluate({}) == 1.0
    assert parse("+".join(["1"] * 900)).evaluate({}) == 900.0


def test_sums_and_products_keep_left_to_right_order() -> None:
    env = {"x": np.array([3.0]), "t": np.array([2.0]), "u": np.array([5.0]), "nu": 0.5}
    assert parse("x - t - u + x", **BURGERS).evaluate(env)[0] == (3.0 - 2.0) - 5.0 + 3.0
    assert parse("x / t / u * x", **BURGERS).evaluate(env)[0] == 3.0 / 2.0 / 5.0 * 3.0
    assert parse("x - (t - u)", **BURGERS).evaluate(env)[0] == 3.0 - (2.0 - 5.0)


DEEPEST = "sin(" * (MAX_EXPRESSION_DEPTH - 1) + "x" + ")" * (MAX_EXPRESSION_DEPTH - 1)


def test_one_level_past_the_depth_limit_is_refused() -> None:
    deeper = "sin(" + DEEPEST + ")"
    assert expression_error(deeper, variables=["x"]) == (
        f"expression is too deeply nested: more than {MAX_EXPRESSION_DEPTH} "
        "levels of parentheses, function calls and powers"
    )
    assert "too deeply nested" in expression_error("x**" * MAX_EXPRESSION_DEPTH + "2", variables=["x"])


@contextmanager
def frames_left(n: int):
    """Python's recursion limit set to the current stack depth plus `n` frames."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + n)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def test_deepest_accepted_expression_is_stack_safe() -> None:
    """Parsing and evaluating take about 3 frames per nesting level, far below Python's default
    limit of 1000 (measured: ~310 frames for the deepest expression, numpy and TF gradients alike)."""
    x = np.linspace(0.0, 1.0, 3)
    expected = x
    for _ in range(MAX_EXPRESSION_DEPTH - 1):
        expected = np.sin(expected)
    budget = 3 * MAX_EXPRESSION_DEPTH + 150
    parse(DEEPEST, variables=["x"])  # warm imports outside the frame budget
    tf_value_and_gradient(parse("sin(x)", variables=["x"]), x)
    with frames_left(budget):
        expr = parse(DEEPEST, variables=["x"])
        np.testing.assert_allclose(expr.evaluate({"x": x}), expected)
        value, grad = tf_value_and_gradient(expr, x)
    np.testing.assert_allclose(value, expected)
    assert np.all(np.isfinite(grad))


def test_python_parser_limits_are_one_line() -> None:
    assert expression_error("(" * 300 + "x" + ")" * 300).startswith("syntax error at column 201")
    assert expression_error("-" * 9_000 + "x") == "expression is too deeply nested"
    assert expression_error("x" + ".a" * 4_900) == "expression is too deeply nested"
    assert expression_error("1" * 9_999) == "a number has more than 4300 digits"


@pytest.mark.parametrize(
    ("source", "part", "reason"),
    [
        ("1/0", "1/0", "division by zero"),
        ("u_xx + 9**9**9**9*u", "9**9**9", "the result is too large"),
        ("(-8)**(1/3)", "(-8)**(1/3)", "negative number raised to a fractional power"),
        ("u*log(0)", "log(0)", "outside the function's domain"),
        ("sqrt(-1) + u", "sqrt(-1)", "outside the function's domain"),
        ("exp(1000)*u", "exp(1000)", "the result is too large"),
        ("u + 1e308*10", "1e308*10", "the result is not finite"),
        ("u*log(pi - pi)", "log(pi - pi)", "outside the function's domain"),
    ],
)
def test_literal_subexpressions_are_evaluated_at_parse(source: str, part: str, reason: str) -> None:
    assert expression_error(source) == f"cannot evaluate '{part}': {reason}"


def test_literal_folding_keeps_values() -> None:
    expr = parse("u*(2*pi)**2 + sin(pi/2) - 1", **BURGERS)
    env = {"x": 0.0, "t": 0.0, "u": np.array([1.0]), "nu": 1.0}
    np.testing.assert_allclose(expr.evaluate(env), [(2 * math.pi) ** 2])
    assert parse("2**-1074/2").evaluate({}) == 0.0  # underflow is finite, not an error


def test_hash_inside_an_expression_is_refused() -> None:
    assert expression_error("u_xx # + pi**2*sin(pi*x)") == (
        "'#' at column 6: expressions have no comments (inside quotes, '#' is part of the expression)"
    )


def test_non_ascii_is_refused_not_folded() -> None:
    assert expression_error("\uff55_xx + u") == (
        "character U+FF55 (FULLWIDTH LATIN SMALL LETTER U) at column 1: expressions are plain ASCII"
    )
    assert "U+001B (a control character) at column 2" in expression_error("u\x1b")


def test_expression_in_a_spec_is_located(tmp_path: Path) -> None:
    text = edit(POISSON, "  exact: sin(pi*x)\n", "  exact: sin(pi*x) + log(0)\n")
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    err = info.value
    assert (err.line, err.field) == (29, "reference.exact")
    assert_one_line(err, "cannot evaluate 'log(0)'")


# --------------------------------------------------------------------------
# Reference .npz files
# --------------------------------------------------------------------------


def add_member(archive: zipfile.ZipFile, name: str, shape: tuple, data_bytes: int, descr: str = "<f8") -> None:
    """A .npy member whose header says `shape` and whose data is `data_bytes` zero bytes."""
    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        member.write(header.getvalue())
        chunk = bytes(MiB)
        while data_bytes > 0:
            member.write(chunk[: min(data_bytes, MiB)])
            data_bytes -= MiB


def refused(path: Path, names=("x", "u")) -> str:
    with pytest.raises(NpzRefused) as info:
        load_npz(path, list(names), MAX_REFERENCE_BYTES)
    return assert_one_line(info.value)


@pytest.mark.slow
def test_zip_bomb_member_is_not_decompressed_past_its_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        add_member(archive, "x", (10,), 64 * MiB)  # compresses to ~64 KB
        add_member(archive, "u", (10,), 80)
    assert path.stat().st_size < MiB
    with bounded(seconds=0.5, megabytes=3):
        message = refused(path)
    assert message == "array 'x' holds more data than its header declares (80 bytes)"


def test_declared_size_over_the_cap_is_refused_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        add_member(archive, "x", (10**9,), 80)
        add_member(archive, "u", (10**9,), 80)
    with bounded(seconds=0.5, megabytes=2):
        message = refused(path)
    assert message == "its arrays hold 14.9 GiB uncompressed (as float64); the limit is 256.0 MiB"
    with pytest.raises(NpzRefused), bounded(seconds=0.5, megabytes=2):
        load_npz(path, ["x", "u"], MAX_REFERENCE_BYTES)


def test_float32_and_fortran_ordered_arrays_load_as_float64(tmp_path: Path) -> None:
    path = tmp_path / "ref.npz"
    np.savez_compressed(path, x=np.linspace(0, 1, 7), u=np.zeros((7, 3), dtype=np.float32, order="F"))
    arrays = load_npz(path, ["x", "u"], MAX_REFERENCE_BYTES)
    assert arrays["u"].dtype == np.float64 and arrays["u"].shape == (7, 3)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (dict(x=np.arange(3.0), u=np.array([1.0, np.nan, 2.0])), "array 'u' holds non-finite values (NaN or inf)"),
        (
            dict(x=np.arange(3.0), u=np.array(["a", "b", "c"])),
            "array 'u' holds <U1; reference data must be integers or floats",
        ),
        (dict(x=np.arange(3.0), u=np.array([1j, 2, 3])), "array 'u' holds complex128"),
        (dict(x=np.arange(3.0), u=np.array([True, False, True])), "array 'u' holds bool"),
        (dict(x=np.arange(3.0)), "lacks array(s) u (has x)"),
    ],
)
def test_bad_arrays_are_named(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "ref.npz"
    np.savez(path, **arrays)
    assert message in refused(path)


def test_truncated_and_corrupt_files(tmp_path: Path) -> None:
    short = tmp_path / "short.npz"
    with zipfile.ZipFile(short, "w") as archive:
        add_member(archive, "x", (10,), 40)
        add_member(archive, "u", (10,), 80)
    assert refused(short) == "array 'x' is truncated (40 of 80 bytes)"
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    assert refused(junk).startswith("cannot read as .npz: ")
    assert refused(Path("/dev/zero")) == "not a regular file (a character device)"


def test_member_count_is_checked_before_the_directory_is_read(tmp_path: Path) -> None:
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(MAX_REFERENCE_MEMBERS + 1):
            archive.writestr(f"m{i}.txt", b"")
    assert refused(path) == f"{MAX_REFERENCE_MEMBERS + 1:,} members; the limit is {MAX_REFERENCE_MEMBERS:,}"


def test_reference_file_errors_are_located_in_the_spec(tmp_path: Path) -> None:
    np.savez(tmp_path / "ref.npz", x=np.linspace(-1, 1, 5), u=np.array([0, 1, np.inf, 1, 0.0]))
    path = write(tmp_path, edit(POISSON, "  exact: sin(pi*x)\n", "  file: ref.npz\n"))
    with pytest.raises(SpecError) as info:
        load_problem(path)
    err = info.value
    assert (err.line, err.field) == (29, "reference.file")
    assert_one_line(err, "ref.npz: array 'u' holds non-finite values")


def test_rank_zero_reads_the_reference_within_the_same_bounds(tmp_path: Path) -> None:
    from pinnrun.problem.reference import _from_file

    class Problem:  # the fields _from_file reads
        inputs, outputs, derived = ["x"], ["u"], {}

    np.savez(tmp_path / "ok.npz", x=np.linspace(0, 1, 4), u=np.arange(4))
    grid = _from_file(Problem, tmp_path / "ok.npz")
    assert grid.shape == (4,) and grid.values["u"].dtype == np.float64
    np.savez(tmp_path / "nan.npz", x=np.linspace(0, 1, 4), u=np.full(4, np.nan))
    with pytest.raises(PinnrunError) as info:
        _from_file(Problem, tmp_path / "nan.npz")
    assert str(info.value) == f"{tmp_path / 'nan.npz'}: reference file: array 'u' holds non-finite values (NaN or inf)"


# --------------------------------------------------------------------------
# The command line: one `error:` line, exit 2, never a hang
# --------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "pinnrun"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pinnrun.cli"]
    return subprocess.run(cmd + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_cli_hostile_files_and_set_values(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(POISSON.encode() + b"# caf\xe9\n")
    spec = write(tmp_path, POISSON)
    cases = [
        (["validate", "/dev/zero"], "error: /dev/zero: not a regular file (a character device)"),
        (["validate", str(fifo)], f"error: {fifo}: not a regular file (a FIFO)"),
        (["validate", str(latin1)], f"error: {latin1}:{POISSON.count(chr(10)) + 1}: not UTF-8 text: byte 0xe9"),
        (["validate", str(spec), "--set", "name=" + "[" * 600], "error: --set name: nested deeper than 64 levels"),
    ]
    for args, start in cases:
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args[:2], proc.stderr[-2000:])
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(start), (args[:2], proc.stderr[-2000:])
