"""Tests for pinnrun.spec.expressions: whitelist parsing and numpy/TF evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pinnrun.spec.expressions import (
    Derivative,
    ExpressionError,
    evaluate_constants,
    parse,
)

BURGERS = dict(variables=("x", "t"), outputs=("u",), constants=("nu",))


def d(output: str, *wrt: str) -> Derivative:
    return Derivative(output, tuple(wrt))


# --------------------------------------------------------------------------
# Parsing: names and derivatives
# --------------------------------------------------------------------------


def test_burgers_residual_names() -> None:
    expr = parse("u_t + u*u_x - nu*u_xx", **BURGERS)
    assert expr.derivatives == {d("u", "t"), d("u", "x"), d("u", "x", "x")}
    assert expr.constants == {"nu"}
    assert expr.outputs == {"u"}
    assert expr.variables == frozenset()
    assert not expr.is_constant
    assert expr.source == "u_t + u*u_x - nu*u_xx"


def test_mixed_partials_are_canonical() -> None:
    a = parse("u_xt", **BURGERS).derivatives
    b = parse("u_tx", **BURGERS).derivatives
    assert a == b == {d("u", "x", "t")}
    (deriv,) = a
    assert deriv.name == "u_xt"
    assert deriv.order == 2
    # Canonical order follows the declared variable order, not the alphabet.
    (deriv,) = parse("u_xt", variables=("t", "x"), outputs=("u",)).derivatives
    assert deriv.wrt == ("t", "x") and deriv.name == "u_tx"


def test_multichar_variables_and_outputs() -> None:
    expr = parse("v_x2x1 + u_x1x1 + x1*x2", variables=("x1", "x2"), outputs=("u", "v"))
    assert expr.derivatives == {d("v", "x1", "x2"), d("u", "x1", "x1")}
    assert expr.variables == {"x1", "x2"}
    assert {x.order for x in expr.derivatives} == {2}


def test_output_name_with_underscore() -> None:
    expr = parse("u_1_x + u_1", variables=("x",), outputs=("u_1",))
    assert expr.derivatives == {d("u_1", "x")}
    assert expr.outputs == {"u_1"}


def test_declared_names_win_over_derivative_notation() -> None:
    expr = parse("u_x", variables=("x",), outputs=("u",), constants=("u_x",))
    assert expr.constants == {"u_x"}
    assert expr.derivatives == frozenset()


def test_pi_and_e_and_constant_expression() -> None:
    expr = parse("2*pi + e - nu", constants=("nu",))
    assert expr.is_constant
    assert expr.constants == {"nu"}
    assert expr.evaluate({"nu": 1.0}) == pytest.approx(2 * math.pi + math.e - 1.0)


def test_numbers_from_yaml() -> None:
    for value in (3, 0.25, -1.5):
        expr = parse(value)
        assert expr.is_constant
        result = expr.evaluate({})
        assert type(result) is float and result == value


# --------------------------------------------------------------------------
# Parsing: rejections
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x.__class__", "unsupported syntax: attribute access"),
        ("__import__('os')", "unknown function '__import__'"),
        ("x[0]", "unsupported syntax: subscript"),
        ("lambda: 1", "unsupported syntax: lambda"),
        ("x < t", "unsupported syntax: comparison"),
        ("x and t", "unsupported syntax: boolean operator"),
        ("x if t else 1", "unsupported syntax: conditional expression"),
        ("sin(x=1)", "unsupported syntax: keyword argument"),
        ("sin(*x)", "unsupported syntax: starred argument"),
        ("f'{x}'", "unsupported syntax: f-string"),
        ("(x := 1)", "unsupported syntax: assignment expression"),
        ("[x, t]", "unsupported syntax: list"),
        ("sin(x)(t)", "unsupported syntax: call of an expression"),
        ("foo(x)", "unknown function 'foo' (allowed: sin, cos,"),
        ("u(x)", "unknown function 'u'"),
        ("foo", "unknown name 'foo' (known: x, t, u, nu)"),
        ("nuu", "did you mean 'nu'?"),
        ("u_z", "u_z: 'z' is not an input variable (variables: x, t)"),
        ("u_xz", "u_xz: 'z' is not an input variable"),
        ("u_", "u_: missing variables"),
        ("nu_x", "cannot differentiate 'nu', only outputs can be differentiated"),
        ("x_t", "cannot differentiate 'x'"),
        ("u^2", "'^' is not a power operator; use **"),
        ("x // 2", "unsupported operator '//'"),
        ("x % 2", "unsupported operator '%'"),
        ("not x", "unsupported operator 'not'"),
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("'abc'", "strings are not allowed"),
        ("True", "booleans are not allowed"),
        ("1j", "complex numbers are not allowed"),
        ("1e999", "too large"),
        ("sin", "'sin' is a function"),
        ("sin(x, t)", "sin() takes 1 argument (2 given)"),
        ("atan2(x)", "atan2() takes 2 arguments (1 given)"),
        ("u +", "syntax error at end of expression"),
        ("u + * 2", "syntax error at column 5"),
        ("x; import os", "syntax error at column 2"),
        ("-" * 5000 + "x", "too deeply nested"),
    ],
)
def test_rejections(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(source, **BURGERS)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize("source", [True, None, [1], {"a": 1}, float("nan"), float("inf")])
def test_rejects_non_expression_values(source: object) -> None:
    with pytest.raises(ExpressionError):
        parse(source, **BURGERS)  # type: ignore[arg-type]


def test_ambiguous_multichar_suffix() -> None:
    with pytest.raises(ExpressionError, match="ambiguous"):
        parse("u_xy", variables=("x", "y", "xy"), outputs=("u",))


@pytest.mark.parametrize("reserved", ["pi", "e", "sin"])
def test_reserved_names_cannot_be_declared(reserved: str) -> None:
    with pytest.raises(ExpressionError, match="reserved"):
        parse("1", variables=(reserved,))
    with pytest.raises(ExpressionError, match="reserved"):
        parse("1", constants=(reserved,))


def test_expression_error_is_value_error() -> None:
    assert issubclass(ExpressionError, ValueError)


# --------------------------------------------------------------------------
# numpy evaluation
# --------------------------------------------------------------------------


def test_numpy_burgers_residual() -> None:
    expr = parse("u_t + u*u_x - nu*u_xx", **BURGERS)
    u = np.array([1.0, 2.0])
    env = {
        "u": u,
        "nu": 0.5,
        d("u", "t"): np.array([0.1, 0.2]),
        d("u", "x"): np.array([3.0, 4.0]),
        d("u", "x", "x"): np.array([2.0, 6.0]),
    }
    np.testing.assert_allclose(expr.evaluate(env), [0.1 + 3.0 - 1.0, 0.2 + 8.0 - 3.0])


def test_numpy_functions_match_hand_values() -> None:
    x = np.array([0.25, 0.5])
    expr = parse(
        "exp(-pi**2*k*t)*sin(pi*x) + sqrt(x) - abs(-x) + sign(-x) + atan2(x, 1)", variables=("x", "t"), constants=("k",)
    )
    got = expr.evaluate({"x": x, "t": 2.0, "k": 0.1})
    want = np.exp(-(math.pi**2) * 0.2) * np.sin(math.pi * x) + np.sqrt(x) - x - 1.0 + np.arctan2(x, 1.0)
    np.testing.assert_allclose(got, want)
    assert parse("-x + +x**2/4", variables=("x",)).evaluate({"x": 2.0}) == pytest.approx(-1.0)


def test_numpy_erf() -> None:
    pytest.importorskip("scipy")
    x = np.array([0.0, 1.0])
    got = parse("erf(x)", variables=("x",)).evaluate({"x": x})
    np.testing.assert_allclose(got, [0.0, math.erf(1.0)])


def test_constant_folding_gives_python_float() -> None:
    result = parse("sin(pi/2) * 2 + nu", constants=("nu",)).evaluate({"nu": np.float64(1.0)})
    assert type(result) is float and result == pytest.approx(3.0)


def test_missing_env_key() -> None:
    expr = parse("u_x + nu", **BURGERS)
    with pytest.raises(KeyError, match="u_x"):
        expr.evaluate({"nu": 1.0})
    with pytest.raises(KeyError, match="nu"):
        expr.evaluate({d("u", "x"): 1.0})


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="backend"):
        parse("1").evaluate({}, backend="torch")


# --------------------------------------------------------------------------
# TensorFlow evaluation
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_tf_dtype_and_values(dtype_name: str) -> None:
    tf = pytest.importorskip("tensorflow")
    dtype = getattr(tf, dtype_name)
    x_np = np.array([0.1, 0.5, 0.9])
    x = tf.constant(x_np, dtype=dtype)
    expr = parse(
        "exp(-pi**2*k*t)*sin(pi*x) + x**2 - 2.0*x + 2.0 - x**0.5 + erf(x) + atan2(1, x)",
        variables=("x", "t"),
        constants=("k",),
    )
    result = expr.evaluate({"x": x, "t": 0.5, "k": 0.1}, backend="tf")
    assert result.dtype == dtype
    want = (
        np.exp(-(math.pi**2) * 0.05) * np.sin(math.pi * x_np)
        + x_np**2
        - 2 * x_np
        + 2
        - np.sqrt(x_np)
        + np.array([math.erf(v) for v in x_np])
        + np.arctan2(1.0, x_np)
    )
    tol = 1e-6 if dtype_name == "float32" else 1e-12
    np.testing.assert_allclose(result.numpy(), want, rtol=tol, atol=tol)


def test_tf_constant_folding_with_float64() -> None:
    tf = pytest.importorskip("tensorflow")
    x = tf.constant([1.0, 2.0], dtype=tf.float64)
    result = parse("sin(pi/2)*x", variables=("x",)).evaluate({"x": x}, backend="tf")
    assert result.dtype == tf.float64
    np.testing.assert_allclose(result.numpy(), [1.0, 2.0])
    constant = parse("sqrt(nu)*2", constants=("nu",)).evaluate({"nu": 4.0}, backend="tf")
    assert type(constant) is float and constant == 4.0


@pytest.mark.slow
def test_tf_inside_tf_function_with_derivatives() -> None:
    tf = pytest.importorskip("tensorflow")
    expr = parse("u_t + u*u_x - nu*u_xx", **BURGERS)

    @tf.function
    def residual(u: tf.Tensor, ux: tf.Tensor) -> tf.Tensor:
        env = {"u": u, "nu": 0.01 / math.pi, d("u", "t"): u, d("u", "x"): ux, d("u", "x", "x"): ux}
        return expr.evaluate(env, backend="tf")

    u = tf.constant([1.0, 2.0], dtype=tf.float64)
    ux = tf.constant([0.5, 0.25], dtype=tf.float64)
    result = residual(u, ux)
    assert result.dtype == tf.float64
    nu = 0.01 / math.pi
    np.testing.assert_allclose(result.numpy(), [1 + 0.5 - nu * 0.5, 2 + 0.5 - nu * 0.25])


def test_tf_trainable_constant_is_not_folded() -> None:
    tf = pytest.importorskip("tensorflow")
    nu = tf.Variable(0.5, dtype=tf.float64)
    x = tf.constant([1.0, 2.0], dtype=tf.float64)
    with tf.GradientTape() as tape:
        result = parse("exp(nu)*x + sin(nu*x)", variables=("x",), constants=("nu",)).evaluate(
            {"x": x, "nu": nu}, backend="tf"
        )
        total = tf.reduce_sum(result)
    xs = np.array([1.0, 2.0])
    np.testing.assert_allclose(result.numpy(), math.exp(0.5) * xs + np.sin(0.5 * xs), rtol=1e-15)
    # d/dnu sum(e^nu x + sin(nu x)) = e^nu (1 + 2) + cos(nu) + 2 cos(2 nu): nu stays a variable
    grad = tape.gradient(total, nu)
    assert grad is not None, "the constant was folded into a number: no gradient reaches it"
    assert float(grad) == pytest.approx(3 * math.exp(0.5) + math.cos(0.5) + 2 * math.cos(1.0), rel=1e-14)


# --------------------------------------------------------------------------
# evaluate_constants
# --------------------------------------------------------------------------


def test_evaluate_constants_chained() -> None:
    values = evaluate_constants({"nu": "0.01/pi", "k": "2*nu", "n": 3, "a": "e**2"})
    assert values == pytest.approx({"nu": 0.01 / math.pi, "k": 0.02 / math.pi, "n": 3.0, "a": math.e**2})
    assert all(type(v) is float for v in values.values())


@pytest.mark.parametrize(
    ("defs", "message"),
    [
        ({"nu": "mu"}, "nu: unknown name 'mu'"),
        ({"k": "2*nu", "nu": "1"}, "k: unknown name 'nu'"),
        ({"nu": "2*nu"}, "nu: unknown name 'nu'"),
        ({"pi": "3"}, "pi: 'pi' is reserved"),
        ({"e": 2.7}, "e: 'e' is reserved"),
        ({"exp": "1"}, "exp: 'exp' is reserved"),
        ({"a": "1/0"}, "a: cannot evaluate '1/0'"),
        ({"a": "log(-1)"}, "a: cannot evaluate 'log(-1)'"),
        ({"a": "(-8)**(1/3)"}, "negative number raised to a fractional power"),
        ({"a": "x"}, "a: unknown name 'x'"),
        ({"a": ""}, "a: empty expression"),
    ],
)
def test_evaluate_constants_errors(defs: dict, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_constants(defs)
    assert message in str(info.value)
