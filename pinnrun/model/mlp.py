"""A fully connected network as plain tf.Variables (no Keras in the training path:
Horovod's broadcast and our optimizers work on these variables directly)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pinnrun.model.embeddings import build_embedding

ACTIVATIONS = {
    "tanh": tf.tanh,
    "sin": tf.sin,
    "sigmoid": tf.sigmoid,
    "gelu": tf.nn.gelu,
    "swish": tf.nn.silu,
    "softplus": tf.nn.softplus,
}


def initial_matrix(rng: np.random.Generator, kind: str, fan_in: int, fan_out: int) -> np.ndarray:
    if kind == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out))
    std = {
        "glorot_normal": np.sqrt(2.0 / (fan_in + fan_out)),
        "he_normal": np.sqrt(2.0 / fan_in),
        "lecun_normal": np.sqrt(1.0 / fan_in),
    }[kind]
    return rng.normal(0.0, std, (fan_in, fan_out))


class MLP(tf.Module):
    """Inputs are rescaled from their domain box to [-1, 1] first: tanh nets train
    far better on centred, unit-scale inputs whatever units the user's domain has.
    An `embedding` (model/embeddings.py) then maps them to what the first layer reads."""

    def __init__(
        self,
        box,
        hidden,
        n_out,
        activation="tanh",
        initializer="glorot_normal",
        dtype="float32",
        seed=0,
        embedding=None,
    ):
        super().__init__(name="mlp")
        lo, hi = np.array(box, dtype=np.float64).T
        self.dtype = tf.as_dtype(dtype)
        self.center = tf.constant((lo + hi) / 2, self.dtype)
        self.inv_half = tf.constant(2.0 / (hi - lo), self.dtype)
        self.activation = ACTIVATIONS[activation]
        self.embedding = embedding
        rng = np.random.default_rng(seed)
        sizes = [len(box) if embedding is None else embedding.width, *hidden, n_out]
        self.weights = [
            tf.Variable(initial_matrix(rng, initializer, a, b), dtype=self.dtype, name=f"w{i}")
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]
        self.biases = [tf.Variable(np.zeros(b), dtype=self.dtype, name=f"b{i}") for i, b in enumerate(sizes[1:])]

    @property
    def params(self) -> list[tf.Variable]:
        return [v for pair in zip(self.weights, self.biases) for v in pair]

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        h = (x - self.center) * self.inv_half
        if self.embedding is not None:
            h = self.embedding(h)
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = self.activation(tf.matmul(h, w) + b)
        return tf.matmul(h, self.weights[-1]) + self.biases[-1]


class TransformedNet(tf.Module):
    """The network with hard constraints: each transformed output is an expression of
    the inputs, the raw outputs, constants and parameters. Derivatives flow through it
    like through the net."""

    def __init__(
        self,
        net: MLP,
        transforms: dict,
        inputs: tuple[str, ...],
        outputs: tuple[str, ...],
        constants: dict[str, float],
        parameters=None,
    ):
        super().__init__(name="transformed")
        self.net, self.transforms = net, transforms
        self.inputs, self.outputs, self.constants = inputs, outputs, constants
        self.parameters = parameters
        self.dtype = net.dtype

    @property
    def params(self) -> list[tf.Variable]:
        return self.net.params

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        y = self.net(x)
        env = {name: x[:, i : i + 1] for i, name in enumerate(self.inputs)}
        env |= {name: y[:, i : i + 1] for i, name in enumerate(self.outputs)} | self.constants
        if self.parameters is not None:
            env |= self.parameters.values()
        cols = [
            self.transforms[name].evaluate(env, backend="tf") + tf.zeros_like(y[:, :1])
            if name in self.transforms
            else y[:, i : i + 1]
            for i, name in enumerate(self.outputs)
        ]
        return tf.concat(cols, axis=1)


def build_model(spec_network, problem, seed: int, parameters=None):
    """The network a spec asks for, with its input embedding and output transform (parsed at
    validation) if any."""
    embedding = build_embedding(spec_network, problem.inputs, problem.input_box, seed)
    net = MLP(
        problem.input_box,
        spec_network.hidden,
        len(problem.outputs),
        spec_network.activation,
        spec_network.initializer,
        spec_network.dtype,
        seed=seed,
        embedding=embedding,
    )
    if not problem.output_transform:
        return net
    return TransformedNet(net, problem.output_transform, problem.inputs, problem.outputs, problem.constants, parameters)


def build_network(spec, problem):
    """(net, unknown parameters) as a spec starts them: what training and a loaded run both build
    before their weights are broadcast or restored."""
    from pinnrun.model.parameters import Parameters

    parameters = Parameters(problem.parameters, spec.network.dtype)
    return build_model(spec.network, problem, seed=spec.training.seed, parameters=parameters), parameters
