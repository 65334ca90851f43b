"""Outputs and the derivatives a term asks for, by nested gradient tapes.

Each input variable is its own (n, 1) column, so the gradient of an output
with respect to a column is the per-point partial derivative (rows are
independent). One tape level per derivative order; only the requested
derivatives and their lower-order prefixes are computed.
"""

from __future__ import annotations

import tensorflow as tf

from pinnrun.spec.expressions import Derivative


def evaluate_fields(
    net, columns: list[tf.Tensor], inputs: tuple[str, ...], outputs: tuple[str, ...], derivatives: frozenset[Derivative]
) -> dict:
    """{output name: (n,1) tensor} plus {Derivative: (n,1) tensor} for `derivatives`."""
    index = {name: i for i, name in enumerate(inputs)}
    wanted = {(d.output, d.wrt[:k]) for d in derivatives for k in range(1, d.order + 1)}
    top = max((len(wrt) for _, wrt in wanted), default=0)

    def up_to(order: int) -> dict:
        if order == 0:
            y = net(tf.concat(columns, axis=1))
            return {(name, ()): y[:, i : i + 1] for i, name in enumerate(outputs)}
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(columns)
            values = up_to(order - 1)
        # One backward pass per parent gives its derivatives along every column needed.
        parents: dict[tuple, list[str]] = {}
        for out, wrt in sorted(k for k in wanted if len(k[1]) == order):
            parents.setdefault((out, wrt[:-1]), []).append(wrt[-1])
        for (out, prefix), names in parents.items():
            grads = tape.gradient(
                values[(out, prefix)],
                [columns[index[n]] for n in names],
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )
            values.update({(out, prefix + (n,)): g for n, g in zip(names, grads)})
        return values

    values = up_to(top)
    fields: dict = {out: values[(out, ())] for out in outputs}
    fields.update({d: values[(d.output, d.wrt)] for d in derivatives})
    return fields
