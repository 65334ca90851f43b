"""Model, derivatives, losses and optimizers in one process (no Horovod)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers import load
from pinnrun.model.derivatives import evaluate_fields
from pinnrun.model.mlp import MLP
from pinnrun.problem.build import build_problem
from pinnrun.sampling.collocation import sample_problem
from pinnrun.spec.expressions import Derivative
from pinnrun.spec.schema import LBFGS as LBFGSSpec, Adam as AdamSpec, Training
from pinnrun.training.adam import Adam
from pinnrun.training.comm import LocalComm
from pinnrun.training.lbfgs import LBFGS, STOP_GRADIENT, STOP_LINE_SEARCH
from pinnrun.training.losses import LossTerms, flatten
from pinnrun.training.trainer import Hook, Trainer


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
    wanted = frozenset(
        {
            D("u", ("x",)),
            D("u", ("x", "x")),
            D("u", ("x", "t")),
            D("u", ("t", "t")),
            D("v", ("x", "x")),
            D("u", ("x", "x", "x")),
        }
    )
    f = evaluate_fields(net, cols, ("x", "t"), ("u", "v"), wanted)
    expect = {
        "u": np.sin(2 * x) * t**3,
        "v": x**2 + t,
        D("u", ("x",)): 2 * np.cos(2 * x) * t**3,
        D("u", ("x", "x")): -4 * np.sin(2 * x) * t**3,
        D("u", ("x", "t")): 6 * np.cos(2 * x) * t**2,
        D("u", ("t", "t")): 6 * np.sin(2 * x) * t,
        D("v", ("x", "x")): 2 + 0 * x,
        D("u", ("x", "x", "x")): -8 * np.cos(2 * x) * t**3,
    }
    assert set(f) == set(expect)
    for key, value in expect.items():
        np.testing.assert_allclose(f[key].numpy(), value, atol=1e-12, err_msg=str(key))


def test_mlp_maps_its_domain_box_onto_minus_one_to_one():
    # box x in [-1, 3], t in [2, 10]: centres 1 and 6, half-widths 2 and 4 (all exact in binary)
    net = MLP([(-1, 3), (2, 10)], [], 2, dtype="float64", seed=0)  # no hidden layer: scaled inputs @ W + b
    net.weights[0].assign(np.eye(2))
    net.biases[0].assign([0.0, 0.0])
    x = tf.constant([[-1.0, 2.0], [3.0, 10.0], [1.0, 6.0], [2.0, 3.0]], tf.float64)
    np.testing.assert_array_equal(net(x).numpy(), [[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [0.5, -0.75]])


def test_mlp_forward_pass_by_hand_and_reproducible():
    box = [(-1, 1), (0, 10)]
    a = MLP(box, [8, 8], 2, dtype="float64", seed=3)
    for b in a.biases:  # the initial biases are zero: make them count
        b.assign(np.linspace(-0.5, 0.5, b.shape[0]))
    x = np.array([[0.5, 7.0], [-1.0, 0.0], [0.25, 2.5]])
    w, b = [v.numpy() for v in a.weights], [v.numpy() for v in a.biases]
    h = (x - [0.0, 5.0]) / [1.0, 5.0]  # centre and half-width of each side of the box
    h = np.tanh(np.tanh(h @ w[0] + b[0]) @ w[1] + b[1]) @ w[2] + b[2]
    np.testing.assert_allclose(a(tf.constant(x)).numpy(), h, rtol=1e-13, atol=1e-15)
    same = MLP(box, [8, 8], 2, dtype="float64", seed=3)
    other = MLP(box, [8, 8], 2, dtype="float64", seed=4)
    assert [p.shape for p in a.params] == [(2, 8), (8,), (8, 8), (8,), (8, 2), (2,)]
    assert all(p.dtype == tf.float64 for p in a.params)
    assert all(np.array_equal(p.numpy(), q.numpy()) for p, q in zip(same.weights, a.weights))
    assert not np.array_equal(other.weights[0].numpy(), a.weights[0].numpy())


def _losses(problem, rank, size, scaling, net):
    pb = build_problem(load(problem, [f"scaling={scaling}"]))
    pts = sample_problem(pb, "sobol", 0, rank, size, scaling)
    return LossTerms(pb, pts, net)


@pytest.mark.slow
@pytest.mark.parametrize("scaling", ["weak", "strong"])
def test_sum_of_rank_shares_is_the_global_loss_and_gradient(scaling):
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
    mean_terms = np.sum([v for v, _ in per_rank], axis=0)
    mean_grad = np.sum([g for _, g in per_rank], axis=0)
    if scaling == "strong":  # the same points on one rank
        ref_terms, ref_grad = value_and_grad(_losses("burgers_soft", 0, 1, "strong", net))
    else:  # weak: all k shards == one rank with k*N points of the same sequences
        pb = build_problem(
            load(
                "burgers_soft",
                [f"sampling.points.{n}={k * c}" for n, c in {"burgers": 8192, "initial": 256, "walls": 256}.items()],
            )
        )
        ref_terms, ref_grad = value_and_grad(LossTerms(pb, sample_problem(pb, "sobol", 0, 0, 1, "weak"), net))
    np.testing.assert_allclose(mean_terms, ref_terms, rtol=1e-12)
    np.testing.assert_allclose(mean_grad, ref_grad, rtol=1e-9, atol=1e-14)


def test_empty_strong_shards_keep_the_global_mean_exact():
    """poisson1d has one point per end: on 2 ranks (strong) one rank holds none of it."""
    net = MLP([(-1, 1)], [8], 1, dtype="float64", seed=2)
    ranks = [_losses("poisson1d", r, 2, "strong", net) for r in range(2)]
    counts = [[d.columns[0].shape[0] for d in lt._data.values()] for lt in ranks]
    assert counts == [[128, 1, 1], [128, 0, 0]]
    mean = np.sum([lt().numpy() for lt in ranks], axis=0)
    np.testing.assert_allclose(mean, _losses("poisson1d", 0, 1, "strong", net)().numpy(), rtol=1e-12)


def adam_by_the_paper(w0, gradient, steps, lr, beta1, beta2, epsilon):
    """Algorithm 1 of Kingma & Ba (2015) in float64 numpy, written apart from training/adam.py."""
    w = [np.array(p, dtype=np.float64) for p in w0]
    m = [np.zeros_like(p) for p in w]
    v = [np.zeros_like(p) for p in w]
    for t in range(1, steps + 1):
        g = gradient(w)
        for i in range(len(w)):
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] ** 2
            m_hat = m[i] / (1 - beta1**t)
            v_hat = v[i] / (1 - beta2**t)
            w[i] = w[i] - lr * m_hat / (np.sqrt(v_hat) + epsilon)
    return w


@pytest.mark.parametrize(
    "settings", [{}, {"beta1": 0.7, "beta2": 0.95, "epsilon": 1e-6}], ids=["defaults", "other betas and epsilon"]
)
def test_adam_matches_the_paper_update(settings):
    # gradient scales from 1 down to 1e-8: where |g| ~ epsilon, epsilon sets the step, so a wrong
    # epsilon moves w by ~1e-2; where |g| ~ 1 it still moves w by ~1e-10, far above rounding
    scales = [np.array([1.0, 1e-2, 1e-6, 1e-8]), np.array([[3.0, 1e-7], [1e-4, 2e-8]])]

    def gradient(w):  # of sum(scale * (w - 0.1 w^3)): signs and sizes change as w moves
        return [s * (1 - 0.3 * p**2) for s, p in zip(scales, w)]

    w0 = [np.array([1.5, -2.0, 0.7, 3.0]), np.array([[0.9, -1.1], [2.2, -0.8]])]
    params = [tf.Variable(p, dtype=tf.float64) for p in w0]
    spec = AdamSpec(steps=12, learning_rate=0.05, **settings)
    opt = Adam(params, spec)
    for _ in range(12):
        opt.apply([tf.constant(g) for g in gradient([p.numpy() for p in params])])
    ref = adam_by_the_paper(w0, gradient, 12, 0.05, spec.beta1, spec.beta2, spec.epsilon)
    for p, r in zip(params, ref):
        np.testing.assert_allclose(p.numpy(), r, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "kind,at_100",
    [
        ("exponential", 0.1 * 0.5 ** (100 / 50)),
        ("step", 0.1 * 0.5**2),
        ("cosine", 0.1 * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * 0.5)))),
        ("constant", 0.1),
    ],
)
def test_learning_rate_schedules(kind, at_100):
    spec = AdamSpec(steps=200, learning_rate=0.1, schedule={"kind": kind, "decay_rate": 0.5, "decay_steps": 50})
    opt = Adam([tf.Variable([0.0])], spec)
    assert float(opt.learning_rate(tf.constant(100, tf.int64))) == pytest.approx(at_100, rel=1e-14)
    assert float(opt.learning_rate(tf.constant(0, tf.int64))) == pytest.approx(0.1, rel=1e-14)


@pytest.mark.slow
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


@pytest.mark.slow
def test_lbfgs_stops_where_float32_cannot_lower_the_loss():
    """A loss whose changes are below float32's resolution (1 + 1e-9 x^2 rounds to 1): a step
    that leaves it equal is no decrease, so L-BFGS stops at once instead of taking step after
    unchanged step at ~20 evaluations each."""
    x = tf.Variable([3.0, -2.0], dtype=tf.float32)

    def evaluate():
        with tf.GradientTape() as tape:
            f = 1.0 + 1e-9 * tf.reduce_sum(x**2)
        return f, tape.gradient(f, x), tf.reshape(f, [1]), tf.reshape(f, [1])

    opt = LBFGS([x], evaluate, LBFGSSpec(steps=100, history=5, tolerance=0.0), 1)
    opt.run(tf.constant(100))
    assert int(opt.stop) == STOP_LINE_SEARCH and int(opt.iterations) == 0
    assert int(opt.evaluations) <= 21 and x.numpy().tolist() == [3.0, -2.0]


def two_loop_direction(g, pairs):
    """-H g by Nocedal & Wright's Algorithm 7.4, written out here in numpy: `pairs` oldest first,
    H0 = (s.y / y.y) I from the newest pair."""
    q, alphas = g.copy(), []
    for s, y in reversed(pairs):
        alpha = (s @ q) / (y @ s)
        q = q - alpha * y
        alphas.append(alpha)
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), alpha in zip(pairs, reversed(alphas)):
        beta = (y @ r) / (y @ s)
        r = r + (alpha - beta) * s
    return -r


@pytest.mark.parametrize("kept", [5, 3, 1])  # a full history, and one still filling up (empty rows first)
def test_lbfgs_direction_is_the_two_loop_recursion(kept):
    rng = np.random.default_rng(3)
    n, m = 7, 5
    a = rng.normal(size=(n, n))
    hessian = a @ a.T + n * np.eye(n)  # y = H s gives curvature pairs with s.y > 0
    pairs = [(s, hessian @ s) for s in rng.normal(size=(kept, n))]
    x = tf.Variable(np.zeros(n))
    opt = LBFGS([x], lambda: None, LBFGSSpec(steps=1, history=m), 1)
    rows = [(np.zeros(n), np.zeros(n), 0.0)] * (m - kept) + [(s, y, 1 / (s @ y)) for s, y in pairs]
    opt.S.assign(np.array([r[0] for r in rows])), opt.Y.assign(np.array([r[1] for r in rows]))
    opt.rho.assign(np.array([r[2] for r in rows]))
    g = rng.normal(size=n)
    np.testing.assert_allclose(opt._direction(tf.constant(g)).numpy(), two_loop_direction(g, pairs), rtol=1e-12)


@pytest.mark.slow
def test_lbfgs_history_holds_the_last_accepted_pairs():
    """After more iterations than the history holds, its rows are the newest steps s = x' - x and
    gradient changes y = g' - g, oldest first (a shift that kept an old pair would go unnoticed by
    convergence alone)."""
    hessian = np.diag([1.0, 3.0, 10.0, 30.0])
    x = tf.Variable([1.0, -2.0, 0.5, 0.25], dtype=tf.float64)

    def evaluate():
        f = 0.5 * tf.tensordot(x, tf.linalg.matvec(hessian, x), 1)
        return f, tf.linalg.matvec(hessian, x), tf.reshape(f, [1]), tf.reshape(f, [1])

    m = 3
    opt = LBFGS([x], evaluate, LBFGSSpec(steps=10, history=m, tolerance=0.0), 1)
    path = [x.numpy().copy()]
    for _ in range(m + 2):  # one accepted iteration at a time
        opt.run(tf.constant(1))
        path.append(x.numpy().copy())
    assert int(opt.iterations) == m + 2
    steps = np.diff(np.array(path), axis=0)[-m:]
    np.testing.assert_allclose(opt.S.numpy(), steps, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(opt.Y.numpy(), steps @ hessian.T, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(opt.rho.numpy(), 1 / np.einsum("ij,ij->i", steps, steps @ hessian.T), rtol=1e-12)


@pytest.mark.slow
def test_one_process_training_reduces_the_loss_and_logs_every_term():
    loaded = load("poisson1d")
    pb = build_problem(loaded)
    net = MLP(pb.input_box, [16, 16], 1, dtype="float64", seed=0)
    training = Training(seed=0, adam={"steps": 60, "learning_rate": 1e-2}, lbfgs={"steps": 40}, log_every=20)
    trainer = Trainer(
        LossTerms(pb, sample_problem(pb, "sobol", 0, 0, 1, "weak"), net), net.params, training, LocalComm()
    )
    records, phases = [], []

    class Phases(Hook):
        def after_phase(self, trainer, name):
            phases.append(name)

    log = trainer.run(records.append, [Phases()])
    assert phases == ["adam", "lbfgs"]
    assert [r["step"] for r in records if r["phase"] == "adam"] == [1, 20, 40, 60]
    assert records[-1]["phase"] == "lbfgs" and records[-1]["step"] <= 100
    assert set(records[0]["losses"]) == {"poisson", "left", "right"}
    assert records[-1]["loss"] < 1e-2 * records[0]["loss"]
    assert records[-1]["rank_losses"] == [list(records[-1]["losses"].values())]
    adam, lbfgs = log.phases
    assert adam.steps == 60 and adam.seconds_per_step > 0 and adam.compile_seconds > 0
    assert lbfgs.evaluations >= lbfgs.steps > 0
