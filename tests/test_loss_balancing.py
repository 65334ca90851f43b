"""Loss balancing (training.loss_balancing) and causal weights (training.causal).

- The weights follow the papers' formulas from the all-reduced per-term gradients; 2 real ranks
  weight exactly as 1 rank (the checkpointed weights and the trajectory agree to rounding level).
- Per-term gradients add up to the step's gradient, micro-batched or not.
- Causal slices add up to the plain loss; the weights are exp(-epsilon x the losses before);
  L-BFGS trains on the plain loss.
- The state goes through a checkpoint; the spec's errors are one located line.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers import PROBLEMS, load
from pinnrun.training.balance import balanced
from pinnrun.training.comm import LocalComm
from pinnrun.training.session import build_session
from restore import Trained, stopped_and_restored

SMALL = [
    "network.hidden=[16,16]",
    "network.dtype=float64",
    "training.adam.steps=40",
    "training.lbfgs.steps=5",
    "training.log_every=10",
    "sampling.points.burgers=300",
    "sampling.points.initial=40",
    "sampling.points.walls=40",
    "reference=null",
]
BALANCED = ["training.loss_balancing.method=grad_norm", "training.loss_balancing.every=10"]
CAUSAL = ["training.causal.chunks=8", "training.causal.epsilon=2.0"]


def session(*extra: str):
    return build_session(PROBLEMS / "burgers_soft.yaml", LocalComm(), [*SMALL, *extra])


# ---------------------------------------------------------------- the formulas


def test_grad_norm_weights_make_every_term_pull_equally():
    grads = np.array([[3.0, 4.0], [0.0, 1.0], [0.5, 0.0]])  # norms 5, 1, 0.5
    new = balanced("grad_norm", grads, np.ones(3), np.array([True, False, False]))
    np.testing.assert_allclose(new, [6.5 / 5, 6.5 / 1, 6.5 / 0.5])
    np.testing.assert_allclose(new * np.linalg.norm(grads, axis=1), 6.5)


def test_annealing_sets_conditions_by_the_pde_gradient_and_keeps_pde_weights():
    grads = np.array([[2.0, -8.0], [1.0, 3.0], [0.5, 0.5]])
    weights = np.array([0.5, 1.0, 1.0])
    new = balanced("annealing", grads, weights, np.array([True, False, False]))
    np.testing.assert_allclose(new, [0.5, 4.0 / 2.0, 4.0 / 0.5])  # max |0.5 g_pde| = 4


@pytest.mark.slow
def test_a_term_without_gradient_or_switched_off_keeps_its_weight():
    s = session(*BALANCED, "training.loss_weights.walls=0")
    s.train(lambda record: None)
    w = s.losses.weights.numpy()
    assert w[2] == 0.0 and w[0] != 1.0 and np.all(np.isfinite(w))


# ---------------------------------------------------------------- gradients and slices


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["training.micro_batch=64"]])
def test_term_gradients_add_up_to_the_step_gradient(extra):
    s = session(*CAUSAL, *extra)
    per_term = s.losses.term_gradients(s.variables).numpy()
    s.losses.weights = tf.constant([0.7, 1.3, 2.0], tf.float64)
    _, grad = s.losses.value_and_gradient(s.variables)
    np.testing.assert_allclose(s.losses.weights.numpy() @ per_term, grad.numpy(), rtol=1e-10, atol=1e-13)
    whole = session(*CAUSAL)
    np.testing.assert_allclose(per_term, whole.losses.term_gradients(whole.variables).numpy(), rtol=1e-9, atol=1e-13)


def test_causal_slices_add_up_to_the_plain_loss_and_set_the_weights():
    s = session(*CAUSAL)
    local = s.losses.batch().numpy()
    plain, slices = local[:3], local[3:]
    assert len(slices) == 8
    np.testing.assert_allclose(slices.mean(), plain[0], rtol=1e-12)
    # every point in its slice: slices over the points' t, by hand
    t = s.batches["burgers"].x[:, 1]
    ids = np.minimum((t * 8).astype(int), 7)
    assert np.bincount(ids, minlength=8).min() > 0
    causal = s.losses.causal
    causal.observe(tf.constant(slices))
    np.testing.assert_allclose(causal.weights.numpy(), np.exp(-2.0 * np.r_[0, np.cumsum(slices)[:-1]]), rtol=1e-12)
    weighted = s.losses.objectives(tf.constant(local)).numpy()
    np.testing.assert_allclose(weighted[0], np.mean(causal.weights.numpy() * slices), rtol=1e-12)
    np.testing.assert_array_equal(weighted[1:], plain[1:])
    causal.active.assign(False)  # L-BFGS: the plain loss
    np.testing.assert_allclose(s.losses.objectives(tf.constant(local)).numpy(), plain, rtol=1e-12)


@pytest.mark.slow
def test_causal_training_weights_late_times_less_until_early_ones_fit():
    s = session(*CAUSAL)
    records = []
    s.train(records.append)
    adam = [r for r in records if r["phase"] == "adam"]
    assert all(0 < r["causal_weight"] <= 1 for r in adam)
    w = s.losses.causal.weights.numpy()
    assert np.all(np.diff(w) <= 0) and w[0] == 1.0  # non-increasing in time


# ---------------------------------------------------------------- state


@pytest.mark.slow
@pytest.mark.parametrize("extra", [BALANCED, CAUSAL, [*BALANCED, *CAUSAL, "training.loss_balancing.method=annealing"]])
def test_a_run_restored_mid_adam_ends_where_an_uninterrupted_one_does(extra):
    whole = session(*extra)
    whole.train(lambda record: None)
    _, second = stopped_and_restored(lambda: session(*extra), 20)
    for a, b in zip([*whole.variables, whole.losses.weights], [*second.variables, second.losses.weights]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_a_balanced_run_s_weights_are_in_its_checkpoint_and_the_spec_s_are_checked_otherwise():
    s = session(*BALANCED)
    s.train(lambda record: None)
    arrays, _ = s.trainer.snapshot()
    assert not np.array_equal(arrays["loss/weights"], [1.0, 1.0, 1.0])
    plain = session()
    with pytest.raises(ValueError, match="other loss weights"):
        plain.trainer.restore_variables(arrays)


# ---------------------------------------------------------------- the spec


@pytest.mark.parametrize(
    "problem, sets, field, words",
    [
        ("poisson1d", ["training.causal.chunks=8"], "training.causal", "need variables.time"),
        ("burgers_soft", ["training.causal.term=initial"], "training.causal.term", "not a pde term"),
        ("burgers_soft", ["training.causal.chunks=0"], "training.causal.chunks", "greater than 0"),
        ("burgers_soft", ["training.loss_balancing.method=softadapt"], "training.loss_balancing.method", "grad_norm"),
        (
            "burgers_soft",
            ["training.loss_balancing.method=grad_norm", "training.loss_balancing.momentum=1"],
            "training.loss_balancing.momentum",
            "less than 1",
        ),
    ],
)
def test_bad_weighting_settings_are_one_located_line(problem, sets, field, words):
    from pinnrun.errors import SpecError

    with pytest.raises(SpecError) as err:
        load(PROBLEMS / f"{problem}.yaml", sets)
    text = str(err.value)
    assert "\n" not in text and f" {field}: " in text and words in text, text


# ---------------------------------------------------------------- 2 real ranks

STRONG = [
    *SMALL,
    "sampling.points.burgers=301",
    "sampling.points.initial=41",
    "sampling.points.walls=39",
    "scaling=strong",
    "training.adam.steps=30",
    *BALANCED,
    *CAUSAL,
]
LOSS_RTOL = 1e-11  # the rounding level of test_distributed.py's strong runs (float64)


def run_ranks(out, ranks: int):
    run = Trained(out, ranks, STRONG)
    assert list(run.summary["loss_weights"].values()) == run.arrays["loss/weights"].tolist()
    assert "loss weights" in run.shown and "(balanced, at the end)" in run.shown, run.shown
    return run.records, run.arrays


@pytest.mark.slow
def test_two_ranks_weight_as_one_rank(tmp_path):
    pytest.importorskip("horovod.tensorflow")
    one, one_state = run_ranks(tmp_path / "one", 1)
    two, two_state = run_ranks(tmp_path / "two", 2)
    for name in ("loss/weights", "loss/causal"):
        np.testing.assert_allclose(two_state[name], one_state[name], rtol=LOSS_RTOL, atol=0)
    assert not np.array_equal(one_state["loss/weights"], [1.0, 1.0, 1.0])  # the weights did move
    assert [r["step"] for r in one] == [r["step"] for r in two]
    for a, b in zip(one, two):
        assert abs(a["loss"] - b["loss"]) <= LOSS_RTOL * abs(a["loss"]), (a["step"], a["loss"], b["loss"])
        assert a.get("weights") is not None and a.get("causal_weight") is not None
