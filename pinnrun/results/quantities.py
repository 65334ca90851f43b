"""What a trained network says at given points: its outputs, any derivative of them, the spec's
derived quantities, or any expression of these (read by the whitelist parser, like the spec's).

Points go through the network in chunks of at most CHUNK: a derivative keeps one tape level per
order, which on a large 3-D grid would not fit in memory at once."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from pinnrun.errors import PinnrunError
from pinnrun.model.derivatives import evaluate_fields
from pinnrun.spec.expressions import Expression, ExpressionError, parse

CHUNK = 65_536  # points per evaluation: a 3-D grid with third derivatives stays within memory


class Quantities:
    """`names` (default: the outputs, then the derived quantities) at points given as rows
    (n, inputs), in the problem's input order; one traced function for any number of points."""

    def __init__(self, problem, net, parameters=None, names: Sequence[str] | None = None):
        self.problem, self.net, self.parameters = problem, net, parameters
        self.names = tuple(names) if names is not None else (*problem.outputs, *problem.derived)
        self.expressions = {name: quantity(problem, name) for name in self.names}
        self._derivatives = frozenset().union(*(e.derivatives for e in self.expressions.values()))
        signature = [tf.TensorSpec([None, len(problem.inputs)], net.dtype)]
        self.evaluate = tf.function(self._evaluate, input_signature=signature, autograph=False)

    def _evaluate(self, x: tf.Tensor) -> tf.Tensor:
        """(n, len(names)) at the points x."""
        pb = self.problem
        columns = [x[:, i : i + 1] for i in range(len(pb.inputs))]
        fields = evaluate_fields(self.net, columns, pb.inputs, pb.outputs, self._derivatives)
        env = dict(pb.constants) | dict(zip(pb.inputs, columns)) | fields
        if self.parameters is not None:
            env |= self.parameters.values()
        zero = tf.zeros_like(columns[0])  # a constant expression still gives one value per point
        return tf.concat([expr.evaluate(env, backend="tf") + zero for expr in self.expressions.values()], axis=1)

    def __call__(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """name -> float64 values, one per row of `points`."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, len(self.problem.inputs))
        chunks = [
            self.evaluate(tf.constant(points[i : i + CHUNK], self.net.dtype)).numpy()
            for i in range(0, len(points), CHUNK)
        ] or [np.zeros((0, len(self.names)))]
        out = np.concatenate(chunks).astype(np.float64)
        return {name: out[:, i] for i, name in enumerate(self.names)}


def quantity(problem, name: str) -> Expression:
    """A derived quantity's expression, or `name` read as an expression of the inputs, outputs
    (and their derivatives, e.g. u_xt), constants and parameters."""
    if name in problem.derived:
        return problem.derived[name]
    try:
        return parse(
            name, variables=problem.inputs, outputs=problem.outputs, constants=[*problem.constants, *problem.parameters]
        )
    except ExpressionError as err:
        known = ", ".join([*problem.outputs, *problem.derived])
        raise PinnrunError(
            f"cannot evaluate '{name}': {err} (outputs and derived quantities: {known}; "
            f"derivatives are written like {problem.outputs[0]}_{problem.inputs[0]})"
        ) from None
