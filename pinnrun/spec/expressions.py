"""Safe parsing and evaluation of user-written math expressions.

Problem specs contain PDE residuals, boundary values and exact solutions as
strings (``u_t + u*u_x - nu*u_xx``). They come from arbitrary YAML files, so
they are never evaluated by Python: the source is parsed with
``ast.parse(mode="eval")`` and the tree is walked against an explicit
whitelist, producing a small node tree that evaluates itself with numpy or
TensorFlow operations.

Derivatives are written ``<output>_<variables>``: with variables ``(x, t)``
and output ``u``, ``u_xt`` is d2u/dxdt. Mixed partials are canonicalised by
the declared variable order, so ``u_tx`` and ``u_xt`` are the same
:class:`Derivative`.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import numbers
import operator
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pinnrun.spec.limits import MAX_EXPRESSION_CHARS, MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_NODES

__all__ = [
    "CONSTANTS",
    "Derivative",
    "Expression",
    "ExpressionError",
    "FUNCTIONS",
    "RESERVED_NAMES",
    "evaluate_constants",
    "parse",
]

# Whitelisted functions and their arity.
FUNCTIONS: Mapping[str, int] = {
    "sin": 1,
    "cos": 1,
    "tan": 1,
    "asin": 1,
    "acos": 1,
    "atan": 1,
    "atan2": 2,
    "sinh": 1,
    "cosh": 1,
    "tanh": 1,
    "exp": 1,
    "log": 1,
    "sqrt": 1,
    "abs": 1,
    "sign": 1,
    "erf": 1,
}

# Built-in named constants.
CONSTANTS: Mapping[str, float] = {"pi": math.pi, "e": math.e}

# Names a spec may not declare as a variable, output or constant.
RESERVED_NAMES: frozenset[str] = frozenset(FUNCTIONS) | frozenset(CONSTANTS)

# Friendly names for rejected syntax, used in "unsupported syntax: ..." errors.
_SYNTAX_NAMES: Mapping[type, str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscript",
    ast.Slice: "slice",
    ast.Compare: "comparison",
    ast.BoolOp: "boolean operator (and/or)",
    ast.Lambda: "lambda",
    ast.IfExp: "conditional expression",
    ast.NamedExpr: "assignment expression (:=)",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.Starred: "starred argument",
    ast.Tuple: "tuple",
    ast.List: "list",
    ast.Set: "set",
    ast.Dict: "dict",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}

_BINARY_OPS: Mapping[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.Pow: ("**", operator.pow),
}

# Left-associative operator groups that the parser flattens into one _Chain each.
_ADDITIVE = frozenset({ast.Add, ast.Sub})
_MULTIPLICATIVE = frozenset({ast.Mult, ast.Div})

_OPERATOR_SYMBOLS: Mapping[type, str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.Not: "not",
    ast.Invert: "~",
}


def _operator_symbol(op: ast.AST) -> str:
    return _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)


class ExpressionError(ValueError):
    """Message is one line, human readable, without the file/line prefix (the caller adds it)."""


@dataclass(frozen=True)
class Derivative:
    """A partial derivative of one output; ``wrt`` is in canonical (declared variable) order."""

    output: str
    wrt: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "wrt", tuple(self.wrt))
        if not self.wrt:
            raise ValueError("a Derivative needs at least one variable")

    @property
    def name(self) -> str:
        """Canonical notation, e.g. ``u_xt``."""
        return f"{self.output}_{''.join(self.wrt)}"

    @property
    def order(self) -> int:
        return len(self.wrt)

    def __str__(self) -> str:
        return self.name


# --------------------------------------------------------------------------
# Backends: the operations a node tree is evaluated with.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ops:
    functions: Mapping[str, Callable[..., Any]]
    power: Callable[[Any, Any], Any]
    # Whether static (tensor-free) subtrees should be folded to Python floats.
    fold: bool
    # Whether functions of plain numbers (e.g. a variable bound to a Python
    # float) are computed with numpy rather than backend ops, which would
    # otherwise create float32 tensors.
    scalars_via_numpy: bool = False


def _checked_pow(base: float, exponent: float) -> float:
    # Python returns a complex number for (-8.0) ** (1/3); a PDE constant never wants that.
    result = base**exponent
    if isinstance(result, complex):
        raise ValueError("negative number raised to a fractional power")
    return result


def _sign(value: float) -> float:
    return float((value > 0) - (value < 0))


def _np_erf(value: Any) -> Any:
    from scipy.special import erf  # lazy: scipy is slow to import and only erf needs it

    return erf(value)


# Plain Python math on floats: used for constant folding in every backend.
_FOLD_OPS = _Ops(
    functions={
        "sin": math.sin,
        "cos": math.cos,
        "tan": math.tan,
        "asin": math.asin,
        "acos": math.acos,
        "atan": math.atan,
        "atan2": math.atan2,
        "sinh": math.sinh,
        "cosh": math.cosh,
        "tanh": math.tanh,
        "exp": math.exp,
        "log": math.log,
        "sqrt": math.sqrt,
        "abs": abs,
        "sign": _sign,
        "erf": math.erf,
    },
    power=_checked_pow,
    fold=False,
)

_NUMPY_OPS = _Ops(
    functions={
        "sin": np.sin,
        "cos": np.cos,
        "tan": np.tan,
        "asin": np.arcsin,
        "acos": np.arccos,
        "atan": np.arctan,
        "atan2": np.arctan2,
        "sinh": np.sinh,
        "cosh": np.cosh,
        "tanh": np.tanh,
        "exp": np.exp,
        "log": np.log,
        "sqrt": np.sqrt,
        "abs": np.abs,
        "sign": np.sign,
        "erf": _np_erf,
    },
    power=operator.pow,
    fold=True,
)


def _tf_ops() -> _Ops:
    import tensorflow as tf  # lazy: the module must import without TensorFlow

    def atan2(y: Any, x: Any) -> Any:
        # Unlike the arithmetic operators, atan2 does not adapt a Python float to
        # the other argument's dtype, so match dtypes explicitly.
        if tf.is_tensor(x) and not tf.is_tensor(y):
            y = tf.cast(tf.convert_to_tensor(y, dtype_hint=x.dtype), x.dtype)
        elif tf.is_tensor(y) and not tf.is_tensor(x):
            x = tf.cast(tf.convert_to_tensor(x, dtype_hint=y.dtype), y.dtype)
        return tf.math.atan2(y, x)

    def power(base: Any, exponent: Any) -> Any:
        # TF's Pow gradient also differentiates by the exponent (log of the base), which
        # turns higher derivatives at base 0 into NaN: x**2 at x = 0 in u_xx. Integer
        # powers by repeated multiplication and x**0.5 by sqrt have exact derivatives.
        if tf.is_tensor(base) and not tf.is_tensor(exponent):
            if float(exponent).is_integer() and 0 <= exponent <= 16:
                n, result = int(exponent), None
                for _ in range(n):
                    result = base if result is None else result * base
                return tf.ones_like(base) if result is None else result
            if float(exponent).is_integer() and -16 <= exponent < 0:
                return 1 / power(base, -exponent)
            if exponent == 0.5:
                return tf.sqrt(base)
        return tf.pow(base, exponent) if tf.is_tensor(base) or tf.is_tensor(exponent) else base**exponent

    return _Ops(
        functions={
            "sin": tf.sin,
            "cos": tf.cos,
            "tan": tf.tan,
            "asin": tf.asin,
            "acos": tf.acos,
            "atan": tf.atan,
            "atan2": atan2,
            "sinh": tf.sinh,
            "cosh": tf.cosh,
            "tanh": tf.tanh,
            "exp": tf.exp,
            "log": tf.math.log,
            "sqrt": tf.sqrt,
            "abs": tf.abs,
            "sign": tf.sign,
            "erf": tf.math.erf,
        },
        power=power,
        fold=True,
        scalars_via_numpy=True,
    )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


# --------------------------------------------------------------------------
# Compiled node tree.
# --------------------------------------------------------------------------


class _Node:
    """A compiled subexpression.

    ``static`` nodes depend on no variables, outputs or derivatives. When all
    constants they use are plain numbers they are folded with Python math to a
    float, so a float32/float64 tensor elsewhere in the tree decides the dtype.
    """

    __slots__ = ("static", "constants", "text")

    def __init__(self, static: bool, constants: frozenset[str], text: str) -> None:
        self.static = static
        self.constants = constants
        self.text = text

    def value(self, env: Mapping[Any, Any], ops: _Ops) -> Any:
        if ops.fold and self.static and all(_is_number(env[c]) for c in self.constants):
            try:
                return float(self.compute(env, _FOLD_OPS))
            except (ArithmeticError, ValueError) as exc:
                raise ExpressionError(f"cannot evaluate '{self.text}': {exc}") from None
        return self.compute(env, ops)

    def compute(self, env: Mapping[Any, Any], ops: _Ops) -> Any:
        raise NotImplementedError


class _Number(_Node):
    __slots__ = ("number",)

    def __init__(self, number: float, text: str) -> None:
        super().__init__(True, frozenset(), text)
        self.number = number

    def compute(self, env: Mapping[Any, Any], ops: _Ops) -> Any:
        return self.number


class _Leaf(_Node):
    """A name looked up in the environment: variable, output, constant or Derivative."""

    __slots__ = ("key",)

    def __init__(self, key: str | Derivative, is_constant: bool, text: str) -> None:
        super().__init__(is_constant, frozenset([key]) if is_constant else frozenset(), text)
        self.key = key

    def compute(self, env: Mapping[Any, Any], ops: _Ops) -> Any:
        value = env[self.key]
        return float(value) if ops is _FOLD_OPS else value


class _Unary(_Node):
    __slots__ = ("negate", "operand")

    def __init__(self, negate: bool, operand: _Node, text: str) -> None:
        super().__init__(operand.static, operand.constants, text)
        self.negate = negate
        self.operand = operand

    def compute(self, env: Mapping[Any, Any], ops: _Ops) -> Any:
        value = self.operand.value(env, ops)
        return -value if self.negate else value


class _Chain(_Node):
    """``a + b - c`` or ``a * b / c``, any length, applied left to right in a loop.

    Python's tree for a 900-term sum is 900 levels deep; evaluating it level by
    level would overflow the stack, so the parser flattens it into one chain.
    """

    __slots__ = ("first", "steps")

    def __init__(self, first: _Node, steps: Sequence[tuple[Callable[[Any, Any], Any], _Node]], text: str) -> None:
        nodes = [first, *(node for _, node in steps)]
        super().__init__(all(n.static for n in nodes), frozenset().union(*(n.constants for n in nodes)), text)
        self.first = first
        self.steps = tuple(steps)

    def compute(self, env: Mapping[Any, Any], ops: _Ops) -> Any:
        result = self.first.value(env, ops)
        for op, node in self.steps:
            result = op(result, node.value(env, ops))
        return result


class _Power(_Node):
    __slots__ = ("base", "exponent")

    def __init__(self, base: _Node, exponent: _Node, text: str) -> None:
        super().__init__(base.static and exponent.static, base.constants | exponent.constants, text)
        self.base = base
        self.exponent = exponent

    def compute(self, env: Mapping[Any, Any], ops: _Ops) -> Any:
        return ops.power(self.base.value(env, ops), self.exponent.value(env, ops))


class _Call(_Node):
    __slots__ = ("function", "args")

    def __init__(self, function: str, args: Sequence[_Node], text: str) -> None:
        constants = frozenset().union(*(a.constants for a in args))
        super().__init__(all(a.static for a in args), constants, text)
        self.function = function
        self.args = tuple(args)

    def compute(self, env: Mapping[Any, Any], ops: _Ops) -> Any:
        args = [a.value(env, ops) for a in self.args]
        if ops.scalars_via_numpy and all(_is_number(a) for a in args):
            return float(_NUMPY_OPS.functions[self.function](*args))
        return ops.functions[self.function](*args)


def _fold_literal(node: _Node) -> _Node:
    """A subtree of literal numbers only becomes its value, or an error naming it.

    `1/0`, `log(0)`, `(-8)**(1/3)` or `9**9**9` would otherwise pass validation and
    fail (or give inf) only once training runs.
    """
    if not node.static or node.constants or isinstance(node, _Number):
        return node
    try:
        value = float(node.compute({}, _FOLD_OPS))
    except ZeroDivisionError:
        reason = "division by zero"
    except OverflowError:
        reason = "the result is too large"
    except ValueError as exc:
        reason = str(exc) if "power" in str(exc) else "outside the function's domain"
    else:
        if math.isfinite(value):
            return _Number(value, node.text)
        reason = "the result is not finite"
    raise ExpressionError(f"cannot evaluate '{node.text}': {reason}")


# --------------------------------------------------------------------------
# Public expression object.
# --------------------------------------------------------------------------


class Expression:
    """A parsed expression: the names it uses and a compiled tree to evaluate."""

    __slots__ = ("source", "variables", "outputs", "constants", "derivatives", "_root", "_keys")

    def __init__(
        self,
        source: str,
        root: _Node,
        variables: frozenset[str],
        outputs: frozenset[str],
        constants: frozenset[str],
        derivatives: frozenset[Derivative],
    ) -> None:
        self.source = source
        self.variables = variables
        self.outputs = outputs
        self.constants = constants
        self.derivatives = derivatives
        self._root = root
        # Every env key evaluation needs, in a stable order for error messages.
        self._keys: tuple[str | Derivative, ...] = (
            *sorted(variables),
            *sorted(outputs),
            *sorted(constants),
            *sorted(derivatives, key=lambda d: d.name),
        )

    @property
    def is_constant(self) -> bool:
        """True when the expression uses no variables, outputs or derivatives."""
        return not (self.variables or self.outputs or self.derivatives)

    def evaluate(self, env: Mapping[Any, Any], backend: str = "numpy") -> Any:
        """Evaluate with ``env`` mapping names (str) and Derivative objects to values.

        ``backend`` is "numpy" or "tf". Tensor-free subtrees are folded to Python
        floats, so a fully constant expression returns a Python float.
        """
        if backend == "numpy":
            ops = _NUMPY_OPS
        elif backend == "tf":
            ops = _tf_ops()
        else:
            raise ValueError(f"unknown backend {backend!r} (use 'numpy' or 'tf')")
        missing = [k for k in self._keys if k not in env]
        if missing:
            names = ", ".join(k.name if isinstance(k, Derivative) else k for k in missing)
            raise KeyError(f"expression '{self.source}' needs values for: {names}")
        return self._root.value(env, ops)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __str__(self) -> str:
        return self.source


# --------------------------------------------------------------------------
# Parsing.
# --------------------------------------------------------------------------


def _splits(suffix: str, variables: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """All ways to read ``suffix`` as a concatenation of variable names."""
    if not suffix:
        yield ()
        return
    for var in variables:
        if suffix.startswith(var):
            for rest in _splits(suffix[len(var) :], variables):
                yield (var, *rest)


def _furthest_reach(suffix: str, variables: Sequence[str]) -> int:
    """Longest prefix of ``suffix`` readable as variable names (for error messages)."""
    reachable, best = {0}, 0
    frontier = [0]
    while frontier:
        pos = frontier.pop()
        best = max(best, pos)
        for var in variables:
            nxt = pos + len(var)
            if suffix.startswith(var, pos) and nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    return best


class _Parser:
    def __init__(
        self,
        source: str,
        variables: Sequence[str],
        outputs: Sequence[str],
        constants: Sequence[str],
    ) -> None:
        self.source = source
        self.variables = tuple(variables)
        self.outputs = tuple(outputs)
        self.constants = tuple(constants)
        self.var_index = {v: i for i, v in enumerate(self.variables)}
        self.used_variables: set[str] = set()
        self.used_outputs: set[str] = set()
        self.used_constants: set[str] = set()
        self.used_derivatives: set[Derivative] = set()

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    def compile(self, node: ast.AST, depth: int = 1) -> _Node:
        """The node tree for ``node``; recursion depth stays within MAX_EXPRESSION_DEPTH."""
        if depth > MAX_EXPRESSION_DEPTH:
            raise ExpressionError(
                f"expression is too deeply nested: more than {MAX_EXPRESSION_DEPTH} "
                "levels of parentheses, function calls and powers"
            )
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return _fold_literal(self.signs(node, depth))
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.BitXor):
                raise ExpressionError("'^' is not a power operator; use **")
            if type(node.op) not in _BINARY_OPS:
                raise ExpressionError(f"unsupported operator '{_operator_symbol(node.op)}'")
            if isinstance(node.op, ast.Pow):
                compiled = _Power(
                    self.compile(node.left, depth + 1), self.compile(node.right, depth + 1), self.text(node)
                )
            else:
                compiled = self.chain(node, depth)
            return _fold_literal(compiled)
        if isinstance(node, ast.Call):
            return _fold_literal(self.call(node, depth))
        what = _SYNTAX_NAMES.get(type(node), type(node).__name__.lower())
        raise ExpressionError(f"unsupported syntax: {what}")

    def signs(self, node: ast.UnaryOp, depth: int) -> _Node:
        """``--+-x`` as one sign and its operand, found by a loop (the tree is one level per sign)."""
        top, negate = node, False
        while isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise ExpressionError(f"unsupported operator '{_operator_symbol(node.op)}'")
            negate ^= isinstance(node.op, ast.USub)
            node = node.operand
        operand = self.compile(node, depth + 1)
        return _Unary(True, operand, self.text(top)) if negate else operand

    def chain(self, node: ast.BinOp, depth: int) -> _Node:
        """A left-nested run of + and - (or of * and /) as one _Chain, found by a loop."""
        group = _ADDITIVE if type(node.op) in _ADDITIVE else _MULTIPLICATIVE
        top, steps = node, []
        while isinstance(node, ast.BinOp) and type(node.op) in group:
            steps.append((_BINARY_OPS[type(node.op)][1], node.right))
            node = node.left
        first = self.compile(node, depth + 1)  # left to right: the first problem is reported first
        compiled = [(op, self.compile(right, depth + 1)) for op, right in reversed(steps)]
        return _Chain(first, compiled, self.text(top))

    def number(self, node: ast.Constant) -> _Node:
        value = node.value
        # type() rather than isinstance(): bool is a subclass of int.
        if type(value) not in (int, float):
            kind = {bool: "booleans", str: "strings", bytes: "bytes", complex: "complex numbers"}
            what = kind.get(type(value))
            if what is None:
                raise ExpressionError(f"{value!r} is not allowed in expressions")
            raise ExpressionError(f"{what} are not allowed in expressions")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ExpressionError(f"number {self.text(node)} is too large")
        return _Number(number, self.text(node))

    def name(self, node: ast.Name) -> _Node:
        name = node.id
        # Declared names win over derivative notation.
        if name in self.var_index:
            self.used_variables.add(name)
            return _Leaf(name, False, name)
        if name in self.outputs:
            self.used_outputs.add(name)
            return _Leaf(name, False, name)
        if name in self.constants:
            self.used_constants.add(name)
            return _Leaf(name, True, name)
        if name in CONSTANTS:
            return _Number(CONSTANTS[name], name)
        if name in FUNCTIONS:
            raise ExpressionError(f"'{name}' is a function; call it like {name}(x)")
        derivative = self.derivative(name)
        if derivative is not None:
            self.used_derivatives.add(derivative)
            return _Leaf(derivative, False, name)
        known = [*self.variables, *self.outputs, *self.constants]
        message = f"unknown name '{name}'"
        if known:
            message += f" (known: {', '.join(known)})"
        close = difflib.get_close_matches(name, [*known, *CONSTANTS], n=1)
        if close:
            message += f"; did you mean '{close[0]}'?"
        raise ExpressionError(message)

    def derivative(self, name: str) -> Derivative | None:
        """Resolve ``<output>_<vars>``; None if ``name`` is not derivative notation at all."""
        var_list = ", ".join(self.variables) or "none"
        candidates = [o for o in self.outputs if name.startswith(o + "_")]
        if not candidates:
            # Derivative notation on something that is not an output, e.g. nu_x.
            for base in (*self.variables, *self.constants):
                if not name.startswith(base + "_"):
                    continue
                suffix = name[len(base) + 1 :]
                if suffix and next(_splits(suffix, self.variables), None) is not None:
                    outs = ", ".join(self.outputs) or "none"
                    raise ExpressionError(
                        f"{name}: cannot differentiate '{base}', only outputs can be differentiated (outputs: {outs})"
                    )
            return None

        readings: dict[Derivative, tuple[str, ...]] = {}
        for output in candidates:
            suffix = name[len(output) + 1 :]
            if not suffix:
                continue
            for split in _splits(suffix, self.variables):
                wrt = tuple(sorted(split, key=self.var_index.__getitem__))
                readings.setdefault(Derivative(output, wrt), split)
                if len(readings) > 1:
                    shown = " or ".join(f"{d.output} w.r.t. ({', '.join(s)})" for d, s in readings.items())
                    raise ExpressionError(
                        f"{name}: ambiguous derivative, could be {shown}; "
                        "rename the variables so their names cannot run together"
                    )
        if readings:
            return next(iter(readings))

        # No reading: explain using the longest matching output.
        output = max(candidates, key=len)
        suffix = name[len(output) + 1 :]
        if not suffix:
            raise ExpressionError(f"{name}: missing variables after '_' (variables: {var_list})")
        rest = suffix[_furthest_reach(suffix, self.variables) :]
        raise ExpressionError(f"{name}: '{rest}' is not an input variable (variables: {var_list})")

    def call(self, node: ast.Call, depth: int) -> _Node:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError("unsupported syntax: call of an expression (only named functions can be called)")
        fname = node.func.id
        if fname not in FUNCTIONS:
            raise ExpressionError(f"unknown function '{fname}' (allowed: {', '.join(FUNCTIONS)})")
        if node.keywords:
            raise ExpressionError(f"unsupported syntax: keyword argument in {fname}()")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError("unsupported syntax: starred argument")
        arity = FUNCTIONS[fname]
        if len(node.args) != arity:
            plural = "" if arity == 1 else "s"
            raise ExpressionError(f"{fname}() takes {arity} argument{plural} ({len(node.args)} given)")
        return _Call(fname, [self.compile(a, depth + 1) for a in node.args], self.text(node))


def _check_declared(variables: Sequence[str], outputs: Sequence[str], constants: Sequence[str]) -> None:
    seen: set[str] = set()
    for kind, names in (("variable", variables), ("output", outputs), ("constant", constants)):
        for name in names:
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                raise ExpressionError(f"invalid {kind} name {name!r}")
            if name in RESERVED_NAMES:
                what = "a built-in constant" if name in CONSTANTS else "a function"
                raise ExpressionError(f"'{name}' is reserved ({what}) and cannot be used as a {kind} name")
            if name in seen:
                raise ExpressionError(f"name '{name}' is declared more than once")
            seen.add(name)


def _ordered(names: Iterable[str]) -> tuple[str, ...]:
    # Sets have no stable order; sort them so error messages are reproducible.
    if isinstance(names, (set, frozenset)):
        return tuple(sorted(names))
    return tuple(dict.fromkeys(names))


def parse(
    source: str | int | float,
    *,
    variables: Sequence[str] = (),
    outputs: Sequence[str] = (),
    constants: Iterable[str] = (),
) -> Expression:
    """Parse ``source`` against the declared names; raises ExpressionError on any problem."""
    variables = tuple(variables)
    outputs = tuple(outputs)
    constant_names = _ordered(constants)
    _check_declared(variables, outputs, constant_names)

    if isinstance(source, bool):
        raise ExpressionError("booleans are not allowed in expressions")
    if isinstance(source, numbers.Real):
        try:
            value = float(source)
        except OverflowError:  # an int beyond float range (YAML reads 400 digits as an int)
            raise ExpressionError("number is too large") from None
        if not math.isfinite(value):
            raise ExpressionError(f"number {source} is not finite")
        none: frozenset[Any] = frozenset()
        return Expression(str(source), _Number(value, str(source)), none, none, none, none)
    if source is None:
        raise ExpressionError("empty expression")
    if not isinstance(source, str):
        got = type(source).__name__
        raise ExpressionError(f"expected an expression (string or number), got {got}")

    if len(source) > MAX_EXPRESSION_CHARS:  # before any copy of it, and before Python's parser
        raise ExpressionError(f"expression is {len(source):,} characters long; the limit is {MAX_EXPRESSION_CHARS:,}")
    # YAML block scalars may span lines; the expression is one logical line.
    text = " ".join(source.splitlines()).strip()
    if not text:
        raise ExpressionError("empty expression")
    _check_characters(text)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        if "digits" in str(exc.msg):  # Python's own cap on integer literals, with advice for Python code
            raise ExpressionError("a number has more than 4300 digits") from None
        # Python reports offset 0 when the expression ends too early ("u +").
        if exc.offset and exc.offset <= len(text):
            where = f" at column {exc.offset}"
        else:
            where = " at end of expression"
        raise ExpressionError(f"syntax error{where}: {exc.msg}") from None
    except ValueError as exc:  # e.g. null bytes on some Python versions
        raise ExpressionError(f"syntax error: {exc}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("expression is too deeply nested") from None

    size = sum(isinstance(node, ast.expr) for node in ast.walk(tree))  # ast.walk is a loop
    if size > MAX_EXPRESSION_NODES:
        raise ExpressionError(
            f"expression has {size:,} parts (numbers, names, operators, calls); the limit is {MAX_EXPRESSION_NODES:,}"
        )
    parser = _Parser(text, variables, outputs, constant_names)
    root = parser.compile(tree.body)
    return Expression(
        source=text,
        root=root,
        variables=frozenset(parser.used_variables),
        outputs=frozenset(parser.used_outputs),
        constants=frozenset(parser.used_constants),
        derivatives=frozenset(parser.used_derivatives),
    )


def _check_characters(text: str) -> None:
    """Printable ASCII only: Python's parser would fold full-width letters to ASCII (NFKC)
    and read ``#`` as a comment, so what runs would differ from what was written."""
    for column, char in enumerate(text, start=1):
        if char == "#":
            raise ExpressionError(
                f"'#' at column {column}: expressions have no comments (inside quotes, '#' is part of the expression)"
            )
        if not (" " <= char <= "~" or char == "\t"):
            name = unicodedata.name(char, "a control character")
            raise ExpressionError(
                f"character U+{ord(char):04X} ({name}) at column {column}: expressions are plain ASCII"
            )


def evaluate_constants(defs: Mapping[str, str | float]) -> dict[str, float]:
    """Evaluate constant definitions in order; each may use earlier constants, pi and e."""
    values: dict[str, float] = {}
    for name, definition in defs.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ExpressionError(f"{name!r}: invalid constant name")
        if name in RESERVED_NAMES:
            what = "a built-in constant" if name in CONSTANTS else "a function"
            raise ExpressionError(f"{name}: '{name}' is reserved ({what}) and cannot be redefined")
        try:
            expr = parse(definition, constants=tuple(values))
            value = expr.evaluate(values)
        except ExpressionError as exc:
            raise ExpressionError(f"{name}: {exc}") from None
        if not math.isfinite(value):
            raise ExpressionError(f"{name}: value is not finite ({value})")
        values[name] = value
    return values
