"""Model, derivatives, losses and optimizers in one process (no Horovod)."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers import load
from pinnrun.model.derivatives import evaluate_fields
from pinnrun.model.mlp import MLP
from pinnrun.problem.problem import build_problem
from pinnrun.sampling.collocation import sample_problem
from pinnrun.spec.expressions import Derivative
from pinnrun.spec.schema import LBFGS as LBFGSSpec, Adam as AdamSpec, Training
from pinnrun.training.adam import Adam
from pinnrun.training.comm import LocalComm
from pinnrun.training.lbfgs import LBFGS, STOP_GRADIENT
from pinnrun.training.losses import LossTerms, flatten
from pinnrun.training.trainer import Trainer


def test_derivatives_match_calculus():
    from pinnrun.spec.expressions import parse

    x = np.linspace(-1, 1, 7)[:, None]  # includes x = 0 and, below, t = 0: no NaN from **
    t = np.linspace(0, 1, 7)[:, None]
    cols = [tf.constant(x), tf.constant(t)]
    exprs = [parse("sin(2*x) * t**3", variables=("x", "t")), parse("x**2 + t", variables=("x", "t"))]

    def net(xt):  # u = sin(2x) t^3, v = x^2 + t, compiled from expressions as specs are
        env = {"x": xt[:, :1], "t": xt[:, 1:]}
        return tf.concat([e.evaluate(env, backend="tf") for e in exprs], axis=1)

    D = Derivative
    wanted = frozenset({D("u", ("x",)), D("u", ("x", "x")), D("u", ("x", "t")), D("u", ("t", "t")),
                        D("v", ("x", "x")), D("u", ("x", "x", "x"))})
    f = evaluate_fields(net, cols, ("x", "t"), ("u", "v"), wanted)
    expect = {
        "u": np.sin(2 * x) * t ** 3, "v": x ** 2 + t,
        D("u", ("x",)): 2 * np.cos(2 * x) * t ** 3, D("u", ("x", "x")): -4 * np.sin(2 * x) * t ** 3,
        D("u", ("x", "t")): 6 * np.cos(2 * x) * t ** 2, D("u", ("t", "t")): 6 * np.sin(2 * x) * t,
        D("v", ("x", "x")): 2 + 0 * x, D("u", ("x", "x", "x")): -8 * np.cos(2 * x) * t ** 3,
    }
    assert set(f) == set(expect)
    for key, value in expect.items():
        np.testing.assert_allclose(f[key].numpy(), value, atol=1e-12, err_msg=str(key))


def test_mlp_scales_inputs_and_is_reproducible():
    a = MLP([(-1, 1), (0, 10)], [8, 8], 2, dtype="float64", seed=3)
    b = MLP([(-1, 1), (0, 10)], [8, 8], 2, dtype="float64", seed=3)
    x = tf.constant([[0.5, 7.0]], tf.float64)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert a(x).shape == (1, 2) and len(a.params) == 6
    assert all(p.dtype == tf.float64 for p in a.params)


def _losses(problem, rank, size, scaling, net):
    pb = build_problem(load(problem, [f"scaling={scaling}"]))
    pts = sample_problem(pb, "sobol", 0, rank, size, scaling)
    return LossTerms(pb, pts, net, size)


@pytest.mark.parametrize("scaling", ["weak", "strong"])
def test_mean_of_rank_contributions_is_the_global_loss_and_gradient(scaling):
    """What the all-reduce computes, done by hand: exact even with unequal strong blocks."""
    net = MLP([(-1, 1), (0, 1)], [16, 16], 1, dtype="float64", seed=1)
    k = 3  # 8192 % 3 != 0: unequal strong blocks
    ranks = [_losses("burgers_soft", r, k, scaling, net) for r in range(k)]

    def value_and_grad(losses):
        with tf.GradientTape() as tape:
            v = losses()
            total = tf.reduce_sum(losses.weights * v)
        return v.numpy(), flatten(tape.gradient(total, net.params)).numpy()

    per_rank = [value_and_grad(lt) for lt in ranks]
    mean_terms = np.mean([v for v, _ in per_rank], axis=0)
    mean_grad = np.mean([g for _, g in per_rank], axis=0)
    if scaling == "strong":  # the same points on one rank
        ref_terms, ref_grad = value_and_grad(_losses("burgers_soft", 0, 1, "strong", net))
    else:  # weak: all k shards == one rank with k*N points of the same sequences
        pb = build_problem(load("burgers_soft", [f"sampling.points.{n}={k * c}" for n, c in
                                            {"burgers": 8192, "initial": 256, "walls": 256}.items()]))
        ref_terms, ref_grad = value_and_grad(LossTerms(pb, sample_problem(pb, "sobol", 0, 0, 1, "weak"), net, 1))
    np.testing.assert_allclose(mean_terms, ref_terms, rtol=1e-12)
    np.testing.assert_allclose(mean_grad, ref_grad, rtol=1e-9, atol=1e-14)


def test_empty_strong_shards_keep_the_global_mean_exact():
    """poisson1d has one point per end: on 2 ranks (strong) one rank holds none of it."""
    net = MLP([(-1, 1)], [8], 1, dtype="float64", seed=2)
    ranks = [_losses("poisson1d", r, 2, "strong", net) for r in range(2)]
    counts = [[d[1][0].shape[0] for d in lt._data] for lt in ranks]
    assert counts == [[128, 1, 1], [128, 0, 0]]
    mean = np.mean([lt().numpy() for lt in ranks], axis=0)
    np.testing.assert_allclose(mean, _losses("poisson1d", 0, 1, "strong", net)().numpy(), rtol=1e-12)


def test_adam_matches_the_paper_update():
    w = tf.Variable([1.0, -2.0], dtype=tf.float64)
    spec = AdamSpec(steps=3, learning_rate=0.1)
    opt = Adam([w], spec)
    m = v = np.zeros(2)
    ref = np.array([1.0, -2.0])
    for step in range(1, 4):
        g = 2 * ref  # gradient of |w|^2
        opt.apply([tf.constant(g)])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g ** 2
        ref = ref - 0.1 * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-6)


@pytest.mark.parametrize("kind,at_100", [("exponential", 0.1 * 0.5 ** (100 / 50)), ("step", 0.1 * 0.5 ** 2),
                                         ("cosine", 0.1 * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * 0.5)))),
                                         ("constant", 0.1)])
def test_learning_rate_schedules(kind, at_100):
    spec = AdamSpec(steps=200, learning_rate=0.1, schedule={"kind": kind, "decay_rate": 0.5, "decay_steps": 50})
    opt = Adam([tf.Variable([0.0])], spec)
    assert float(opt.learning_rate(tf.constant(100, tf.int64))) == pytest.approx(at_100)
    assert float(opt.learning_rate(tf.constant(0, tf.int64))) == pytest.approx(0.1)


def test_lbfgs_minimises_rosenbrock():
    xy = tf.Variable([-1.2, 1.0], dtype=tf.float64)

    def evaluate():
        with tf.GradientTape() as tape:
            f = (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2
        g = tape.gradient(f, xy)
        return f, g, tf.reshape(f, [1]), tf.reshape(f, [1])

    opt = LBFGS([xy], evaluate, LBFGSSpec(steps=200, history=10, tolerance=1e-9), 1)
    f, _, _ = opt.run(tf.constant(200))
    np.testing.assert_allclose(xy.numpy(), [1.0, 1.0], atol=1e-6)
    assert float(f) < 1e-12
    assert int(opt.stop) == STOP_GRADIENT
    assert int(opt.iterations) < 100 and int(opt.evaluations) < 2 * int(opt.iterations) + 5


def test_one_process_training_reduces_the_loss_and_logs_every_term():
    loaded = load("poisson1d")
    pb = build_problem(loaded)
    net = MLP(pb.input_box, [16, 16], 1, dtype="float64", seed=0)
    training = Training(seed=0, adam={"steps": 60, "learning_rate": 1e-2}, lbfgs={"steps": 40}, log_every=20)
    trainer = Trainer(LossTerms(pb, sample_problem(pb, "sobol", 0, 0, 1, "weak"), net, 1), net.params,
                      training, LocalComm())
    records, phases = [], []
    log = trainer.run(records.append, phases.append)
    assert phases == ["adam", "lbfgs"]
    assert [r["step"] for r in records if r["phase"] == "adam"] == [1, 20, 40, 60]
    assert records[-1]["phase"] == "lbfgs" and records[-1]["step"] <= 100
    assert set(records[0]["losses"]) == {"poisson", "left", "right"}
    assert records[-1]["loss"] < 1e-2 * records[0]["loss"]
    assert records[-1]["rank_losses"] == [list(records[-1]["losses"].values())]
    adam, lbfgs = log.phases
    assert adam.steps == 60 and adam.seconds_per_step > 0 and adam.compile_seconds > 0
    assert lbfgs.evaluations >= lbfgs.steps > 0
