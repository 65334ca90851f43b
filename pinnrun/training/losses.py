"""Per-term loss contributions of one rank's points, and their gradient.

Each rank returns, for every term, sum(r^2) / (global points x components):
its share of the global mean. The all-reduce sums the shares, so the result is
the exact global mean whatever the blocks' sizes (unequal or empty strong-
scaling blocks included) and the collective needs no notion of averaging.

A shard larger than `micro_batch` points is evaluated in micro-batches
(training/micro_batches.py) whose shares and gradients are summed in a loop:
the same loss and gradient as one pass, within rounding, in the memory of one
micro-batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from pinnrun.model.derivatives import evaluate_fields
from pinnrun.problem.problem import Problem
from pinnrun.problem.terms.base import Batch, Term
from pinnrun.spec.memory import micro_batches as count_micro_batches
from pinnrun.training.causal import CausalWeights
from pinnrun.training.micro_batches import stack


@dataclass(frozen=True)
class _TermData:
    term: Term
    columns: list  # one (n, 1) tensor per input; (m, rows, 1) when micro-batched
    arrays: dict  # (n, k); (m, rows, k) when micro-batched
    mask: object  # (m, rows, 1) zeros on padding rows, or None
    scale: object  # 1 / (global points x components)


class LossTerms:
    """`adaptive` names the terms whose points change during training (training/adapt.py): they
    live in variables, so new points are assigned without retracing; `extra_rows` reserves rows
    for points a term gains (RAR), masked out until filled."""

    def __init__(
        self,
        problem: Problem,
        batches: dict[str, Batch],
        net,
        parameters=None,
        micro_batch: int | None = None,
        adaptive=(),
        extra_rows: dict[str, int] | None = None,
        weights: tf.Variable | None = None,
        causal: CausalWeights | None = None,
    ):
        self.problem, self.net, self.parameters = problem, net, parameters
        dtype = self.dtype = net.dtype
        self.names = [t.name for t in problem.terms]
        # a variable when training changes them (training/balance.py), else the spec's, fixed
        self.weights = weights if weights is not None else tf.constant([t.weight for t in problem.terms], dtype)
        self.causal = causal
        self.width = len(self.names) + (causal.chunks if causal is not None else 0)  # a rank's local vector
        extra_rows = extra_rows or {}
        points = sum(
            len(batches[t.name].x) // batches[t.name].blocks + extra_rows.get(t.name, 0) for t in problem.terms
        )
        self.micro_batch = micro_batch
        self.micro_batches = count_micro_batches(points, micro_batch)
        self._data, self._pointwise, self._capacity = {}, {}, {}
        for term in problem.terms:
            batch = batches[term.name]
            if term.name in extra_rows:
                batch, live = _with_rows(batch, extra_rows[term.name]), len(batch.x)
                self._capacity[term.name] = len(batch.x)
            else:
                live = None
            x, arrays, mask = self._layout(batch, live)
            scale = 1.0 / max(batch.shard.total * batch.components, 1)
            const = (
                (lambda a: tf.Variable(a, dtype=dtype, trainable=False))
                if term.name in adaptive
                else (lambda a: tf.constant(a, dtype))
            )
            self._data[term.name] = _TermData(
                term,
                [const(x[..., i : i + 1]) for i in range(x.shape[-1])],
                {key: const(value) for key, value in arrays.items()},
                None if mask is None else const(mask),
                const(scale) if term.name in extra_rows else scale,
            )

    def _layout(self, batch: Batch, live: int | None):
        """(x, arrays, mask) as the loss holds them: whole, or stacked in micro-batches; rows from
        `live` on (reserved, not yet filled) masked out."""
        n = len(batch.x) // batch.blocks
        live_mask = None if live is None else (np.arange(n) < live).astype(np.float64)[:, None]
        if self.micro_batches == 1:
            return batch.x, batch.arrays, live_mask
        arrays = dict(batch.arrays) | ({_LIVE: live_mask} if live_mask is not None else {})
        stacked = stack(Batch(batch.x, batch.shard, arrays, batch.components, batch.blocks), self.micro_batches)
        arrays = dict(stacked.arrays)
        live_stacked, mask = arrays.pop(_LIVE, None), stacked.mask
        if live_stacked is not None:
            mask = live_stacked if mask is None else mask * live_stacked
        return stacked.x, arrays, mask

    def replace_points(self, name: str, batch: Batch, total: int | None = None) -> None:
        """Train an adaptive term on other points: `batch` has as many rows as it had (RAR: at
        most as many as its reserved rows; the rest stay masked out, and `total` is the new global
        count). Assigned in place: nothing is retraced."""
        d = self._data[name]
        live = None
        if name in self._capacity:  # rows reserved for RAR
            live, batch = len(batch.x), _with_rows(batch, self._capacity[name] - len(batch.x))
        x, arrays, mask = self._layout(batch, live)
        for i, column in enumerate(d.columns):
            column.assign(x[..., i : i + 1])
        for key, value in arrays.items():
            d.arrays[key].assign(value)
        if mask is not None:
            d.mask.assign(mask)
        if total is not None:
            d.scale.assign(1.0 / max(total * batch.components, 1))

    def _squares(self, d: _TermData, columns: list, arrays: dict) -> tf.Tensor:
        """(n, components) squared residual of term d at `columns`."""
        pb = self.problem
        shared = dict(pb.constants)
        if self.parameters is not None:
            shared |= self.parameters.values()
        fields = evaluate_fields(self.net, columns, pb.inputs, pb.outputs, d.term.derivatives)
        env = shared | dict(zip(pb.inputs, columns)) | fields
        return tf.square(d.term.residual(env, arrays))

    def batch(self, i=0) -> tf.Tensor:
        """(width,) this rank's shares from micro-batch i (the whole shard when there is one): one
        per term, then the causal term's time slices (training/causal.py) if any."""
        pick = (lambda t: t) if self.micro_batches == 1 else (lambda t: tf.gather(t, i))
        out, slices = [], []
        for d in self._data.values():
            columns = [pick(c) for c in d.columns]
            squares = self._squares(d, columns, {k: pick(v) for k, v in d.arrays.items()})
            if d.mask is not None:
                squares = squares * pick(d.mask)
            out.append(tf.reduce_sum(squares) * d.scale)  # every residual involves an output
            if self.causal is not None and d.term.name == self.causal.term:
                slices = [self.causal.slice_shares(squares, columns[self.causal.time_index], d.scale)]
        return tf.concat([tf.stack(out), *slices], axis=0)

    def objectives(self, local: tf.Tensor) -> tf.Tensor:
        """(n_terms,) what each term trains on: its share, the causal term's weighted by time slice."""
        n = len(self.names)
        if self.causal is None:
            return local[:n]
        at = self.names.index(self.causal.term)
        weighted = self.causal.objective(local[n:])
        return tf.concat([local[:at], weighted[None], local[at + 1 : n]], axis=0)

    def pointwise(self, name: str, batch: Batch, chunk: int) -> np.ndarray:
        """(n,) squared residual of term `name`, summed over its components, at `batch`'s points
        (candidates), evaluated `chunk` points at a time; float64."""
        if name not in self._pointwise:
            d = self._data[name]

            @tf.function(reduce_retracing=True)
            @tf.autograph.experimental.do_not_convert
            def squares(x, arrays):
                columns = [x[:, i : i + 1] for i in range(x.shape[-1])]
                return tf.reduce_sum(self._squares(d, columns, arrays), axis=1)

            self._pointwise[name] = squares
        squares, n = self._pointwise[name], len(batch.x)
        out = [
            squares(
                tf.constant(batch.x[a : a + chunk], self.dtype),
                {k: tf.constant(v[a : a + chunk], self.dtype) for k, v in batch.arrays.items()},
            ).numpy()
            for a in range(0, n, max(chunk, 1))
        ]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def __call__(self) -> tf.Tensor:
        """(n_terms,) this rank's shares; all-reduce-sum them for the global means."""
        n = len(self.names)
        if self.micro_batches == 1:
            return self.batch()[:n]
        return self._sum(lambda i: (self.batch(i),), (tf.zeros(self.width, self.dtype),))[0][:n]

    def value_and_gradient(self, variables) -> tuple[tf.Tensor, tf.Tensor]:
        """(this rank's shares, flat gradient of their weighted sum with respect to `variables`)."""

        def one(i):
            with tf.GradientTape() as tape:
                local = self.batch(i)
                total = tf.reduce_sum(self.weights * self.objectives(local))
            # zero, not None, for a weight no term reaches: an output used only through its
            # derivatives (a stream function) leaves its bias unconnected
            grads = tape.gradient(total, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return local, flatten(grads)

        if self.micro_batches == 1:
            return one(0)
        return self._sum(one, (tf.zeros(self.width, self.dtype), tf.zeros(_size(variables), self.dtype)))

    def term_gradients(self, variables) -> tf.Tensor:
        """(n_terms, parameters) this rank's gradient of each term's objective, unweighted (loss
        balancing reads their norms after the all-reduce)."""
        n = len(self.names)

        def one(i):
            with tf.GradientTape(persistent=True) as tape:
                objectives = tf.unstack(self.objectives(self.batch(i)))
            grads = [
                flatten(tape.gradient(o, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO))
                for o in objectives
            ]
            del tape
            return (tf.stack(grads),)

        if self.micro_batches == 1:
            return one(0)[0]
        return self._sum(one, (tf.zeros((n, _size(variables)), self.dtype),))[0]

    def _sum(self, part, zeros: tuple):
        """Sum of `part(i)` (a tuple of tensors shaped as `zeros`) over the micro-batches, one at a
        time: the body is traced once, and parallel_iterations=1, or TensorFlow may keep several
        micro-batches' tapes alive at once."""

        def body(i, sums):
            return i + 1, tuple(s + p for s, p in zip(sums, part(i)))

        _, sums = tf.while_loop(
            lambda i, _: i < self.micro_batches, body, (tf.constant(0), zeros), parallel_iterations=1
        )
        return sums


_LIVE = "\0live"  # the reserved-rows mask, stacked with a term's arrays


def _with_rows(batch: Batch, extra: int) -> Batch:
    """`batch` with `extra` more rows (copies of its last point, or zeros when it has none)."""
    if extra <= 0:
        return batch

    def pad(a):
        filler = np.repeat(a[-1:], extra, axis=0) if len(a) else np.zeros((extra, a.shape[1]))
        return np.concatenate([a, filler])

    return Batch(
        pad(batch.x), batch.shard, {k: pad(v) for k, v in batch.arrays.items()}, batch.components, batch.blocks
    )


def _size(variables) -> int:
    return sum(int(np.prod(v.shape)) for v in variables)


def flatten(tensors) -> tf.Tensor:
    return tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)


def unflatten(flat: tf.Tensor, like) -> list[tf.Tensor]:
    sizes = [int(np.prod(v.shape)) for v in like]
    return [tf.reshape(part, v.shape) for part, v in zip(tf.split(flat, sizes), like)]
