"""Adaptive collocation points (sampling.adapt): resampling, RAD and RAR.

- The choice is global: 2 real ranks choose exactly the points 1 rank chooses (the checkpointed
  choice is equal) and train the same trajectory to rounding level (float64, strong scaling,
  odd counts so the ranks' blocks differ).
- Resampled blocks of the ranks are disjoint and together are what one rank draws.
- RAD concentrates where the residual is large, RAR takes the largest residuals, with ties and
  non-finite residuals decided the same way on any number of ranks.
- The state goes through a checkpoint: a run stopped and restored mid-Adam ends where an
  uninterrupted one does; the spec's errors are one located line.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import PROBLEMS, load
from pinnrun.problem.terms.base import Batch, Draw
from pinnrun.sampling.adaptive import CANDIDATES, RESAMPLE, draw_round, rad_choice, rar_choice, smallest
from pinnrun.sampling.shards import Shard
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
    "sampling.adapt.every=10",
    "reference=null",
]
ADAPT = {
    "resample": [],
    "rad": ["sampling.adapt.candidates=1200"],
    "rar": ["sampling.adapt.candidates=1200", "sampling.adapt.add=30"],
}


def session(method: str, *extra: str):
    return build_session(
        PROBLEMS / "burgers_soft.yaml", LocalComm(), [*SMALL, f"sampling.adapt.method={method}", *ADAPT[method], *extra]
    )


def candidates(n: int, start: int = 0, total: int | None = None) -> Batch:
    x = np.stack([np.linspace(0, 1, n), np.arange(n, dtype=float)], axis=1)
    return Batch(x, Shard(start, n, total or n), {"value": np.arange(n, dtype=float)[:, None]})


# ---------------------------------------------------------------- the choice itself


def test_smallest_takes_the_smallest_keys_ties_by_global_index():
    keys = np.array([3.0, 1.0, 2.0, 1.0, np.inf, 0.5])
    assert smallest(keys, 100, 3, LocalComm()).tolist() == [False, True, False, True, False, True]
    assert smallest(keys, 0, 4, LocalComm()).tolist() == [False, True, True, True, False, True]
    assert smallest(keys[:2], 0, 5, LocalComm()).tolist() == [True, True]  # fewer keys than asked: all


def test_rar_takes_the_largest_residuals_and_never_a_non_finite_one():
    squares = np.array([1.0, 9.0, np.nan, 4.0, 9.0, 0.0])
    chosen = rar_choice(candidates(6), squares, 3, LocalComm())
    assert chosen.x[:, 1].tolist() == [1, 3, 4]  # in global order; 9, 9, 4
    assert chosen.arrays["value"][:, 0].tolist() == [1, 3, 4]  # arrays travel with their points
    assert chosen.shard == Shard(0, 3, 3)


def test_rad_concentrates_where_the_residual_is_large_and_k_0_is_uniform():
    n, count = 4000, 400
    squares = np.where(np.arange(n) < n // 10, 100.0, 1e-4)  # the first tenth: |r| = 10, elsewhere 0.01
    steep = rad_choice(candidates(n), squares, count, k=2.0, c=0.0, seed=7, comm=LocalComm())
    share = np.mean(steep.x[:, 1] < n // 10)
    assert len(steep.x) == count and len(np.unique(steep.x[:, 1])) == count  # without replacement
    assert share > 0.99, share
    uniform = rad_choice(candidates(n), squares, count, k=0.0, c=1.0, seed=7, comm=LocalComm())
    assert 0.05 < np.mean(uniform.x[:, 1] < n // 10) < 0.15
    # k = 1, c = 1 (the default): |r| / mean |r| + 1 gives the steep tenth about 10 / (1 + 1) + ... of the mass
    default = rad_choice(candidates(n), squares, count, k=1.0, c=1.0, seed=7, comm=LocalComm())
    assert 0.3 < np.mean(default.x[:, 1] < n // 10) < 0.95
    again = rad_choice(candidates(n), squares, count, k=1.0, c=1.0, seed=7, comm=LocalComm())
    assert np.array_equal(default.x, again.x)  # a function of the seed


def test_rad_survives_zero_huge_and_non_finite_residuals():
    n = 200
    for squares in (np.zeros(n), np.full(n, 1e300), np.r_[np.full(n - 1, 1.0), np.inf]):
        chosen = rad_choice(candidates(n), squares, 50, k=10.0, c=0.0, seed=1, comm=LocalComm())
        assert len(chosen.x) == 50 and np.isfinite(chosen.x).all()


def test_resampled_blocks_of_two_ranks_are_disjoint_and_one_rank_s_round():
    loaded = load(PROBLEMS / "burgers_soft.yaml", ["sampling.points.burgers=301", "reference=null"])
    from pinnrun.problem.build import build_problem
    from pinnrun.sampling.collocation import term_seed

    problem = build_problem(loaded)
    term = problem.terms[0]
    seed = term_seed(0, 0)
    where = lambda rank, size: Draw(problem, "sobol", seed, rank, size, "strong")  # noqa: E731
    for stream in (RESAMPLE, CANDIDATES):
        one = draw_round(where(0, 1), term, 301, 3, stream).x
        two = [draw_round(where(r, 2), term, 301, 3, stream).x for r in range(2)]
        assert np.array_equal(np.concatenate(two), one)
        assert not set(map(tuple, two[0])) & set(map(tuple, two[1]))
    original = term.sample(where(0, 1)).x
    later = [draw_round(where(0, 1), term, 301, j, RESAMPLE).x for j in (1, 2)]
    assert not np.array_equal(later[0], original) and not np.array_equal(later[0], later[1])


# ---------------------------------------------------------------- in training


@pytest.mark.slow
@pytest.mark.parametrize("method", ["resample", "rad", "rar"])
def test_rounds_change_the_points_without_retracing(method):
    s = session(method)
    before = s.batches["burgers"].x.copy()
    traces = []
    s.train(lambda record: traces.append(s.trainer.adam_steps(s.trainer.adam)))
    assert int(s.trainer.hook_variables["adapt/rounds"].numpy()) == 3  # at 10, 20, 30 of 40 Adam steps
    after = s.batches["burgers"]
    if method == "rar":  # 3 rounds of 30 added points, the 300 first kept
        assert after.x.shape == (390, 2) and after.shard.total == 390 and np.array_equal(after.x[:300], before)
    else:
        assert after.x.shape == before.shape and not np.array_equal(after.x, before)
    assert np.array_equal(s.batches["initial"].x.shape, (40, 2))
    # the loss's variables hold the new points
    held = s.losses._data["burgers"].columns[0].numpy()[: len(after.x)]
    assert np.array_equal(held[:, 0], after.x[:, 0])


@pytest.mark.slow
def test_rar_loss_is_the_mean_over_the_points_it_holds():
    s = session("rar")
    s.train(lambda record: None)
    from pinnrun.training.losses import LossTerms

    fresh = LossTerms(s.problem, s.batches, s.net, s.parameters)
    assert np.allclose(s.losses().numpy(), fresh().numpy(), rtol=1e-12, atol=0)


@pytest.mark.slow
def test_rar_micro_batched_equals_whole():
    a, b = session("rar"), session("rar", "training.micro_batch=64")
    a.train(lambda record: None)
    b.train(lambda record: None)
    assert b.losses.micro_batches > 1
    assert np.allclose(a.losses().numpy(), b.losses().numpy(), rtol=1e-9, atol=0)


THROUGH_LBFGS = ["sampling.adapt.lbfgs=true", "training.lbfgs.steps=25"]


@pytest.mark.slow
def test_rounds_go_on_through_lbfgs_when_asked_and_restart_it():
    s = session("rad", *THROUGH_LBFGS)
    records = []
    s.train(records.append)
    assert int(s.trainer.hook_variables["adapt/rounds"].numpy()) == 6  # 10 ... 60 of 65 steps
    assert s.trainer.log.phase("lbfgs").steps == 25
    # each L-BFGS round evaluates the new loss first: more evaluations than iterations
    assert s.trainer.log.phase("lbfgs").evaluations >= 25 + 3


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, extra, stop",
    [("rad", [], 20), ("rar", [], 20), ("resample", [], 20), ("rad", THROUGH_LBFGS, 50), ("rar", THROUGH_LBFGS, 50)],
)
def test_a_run_restored_mid_training_ends_where_an_uninterrupted_one_does(method, extra, stop):
    whole = session(method, *extra)
    whole.train(lambda record: None)
    arrays, second = stopped_and_restored(lambda: session(method, *extra), stop)
    assert int(arrays["adapt/rounds"]) == stop // 10
    for a, b in zip(whole.variables, second.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(whole.batches["burgers"].x, second.batches["burgers"].x)


# ---------------------------------------------------------------- the spec


@pytest.mark.parametrize(
    "sets, field, words",
    [
        (["sampling.adapt.method=rar"], "sampling.adapt", "rar needs add"),
        (
            ["sampling.adapt.method=rad", "sampling.adapt.candidates=100"],
            "sampling.adapt.candidates",
            "fewer than the 300 points",
        ),
        (
            ["sampling.adapt.method=rar", "sampling.adapt.add=500", "sampling.adapt.candidates=400"],
            "sampling.adapt.candidates",
            "fewer than the 500 points a round adds",
        ),
        (["sampling.adapt.method=rad", "sampling.adapt.terms=[nope]"], "sampling.adapt.terms[0]", "not a term"),
        (
            ["sampling.adapt.method=rad", "sampling.adapt.terms=[burgers, burgers]"],
            "sampling.adapt.terms",
            "listed twice",
        ),
        (["sampling.adapt.method=resample", "sampling.adapt.candidates=10"], "sampling.adapt", "drop candidates"),
        (["sampling.adapt.method=rad", "sampling.adapt.k=11"], "sampling.adapt.k", "less than or equal"),
        (
            [
                "sampling.adapt.method=rar",
                "sampling.adapt.add=2000000000",
                "sampling.adapt.candidates=2000000000",
                "training.adam.steps=100",
            ],
            "sampling.adapt.add",
            "would grow to 18,000,000,300 points over 9 rounds",
        ),
    ],
)
def test_bad_adapt_settings_are_one_located_line(sets, field, words):
    from pinnrun.errors import SpecError

    with pytest.raises(SpecError) as err:
        load(PROBLEMS / "burgers_soft.yaml", ["sampling.points.burgers=300", "sampling.adapt.every=10", *sets])
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
]
RANKS = {
    "resample": [],
    "rad": ["sampling.adapt.candidates=1203"],
    "rar": ["sampling.adapt.candidates=1203", "sampling.adapt.add=31"],
}
LOSS_RTOL = 1e-11  # the rounding level of test_distributed.py's strong runs (float64)


def run_ranks(out, ranks: int, method: str) -> tuple[list[dict], dict]:
    run = Trained(out, ranks, [*STRONG, f"sampling.adapt.method={method}", *RANKS[method]])
    terms = ["burgers", "initial", "walls"] if method == "resample" else ["burgers"]  # the defaults
    assert run.summary["adapt"] == {"method": method, "terms": terms, "rounds": 2}
    growth = 2 * 31 if method == "rar" else 0
    assert run.summary["points"]["global"]["burgers"] == 301 + growth
    assert f"adaptive points    {method}: 2 round(s) on {', '.join(terms)}" in run.shown, run.shown
    return run.records, run.arrays


@pytest.mark.slow
@pytest.mark.parametrize("method", ["resample", "rad", "rar"])
def test_two_ranks_choose_and_train_as_one_rank(tmp_path, method):
    pytest.importorskip("horovod.tensorflow")
    one, one_state = run_ranks(tmp_path / "one", 1, method)
    two, two_state = run_ranks(tmp_path / "two", 2, method)
    assert int(one_state["adapt/rounds"]) == int(two_state["adapt/rounds"]) == 2
    if method != "resample":  # the global choice itself, in global order, on every rank
        assert np.array_equal(one_state["adapt/burgers"], two_state["adapt/burgers"])
        assert np.abs(one_state["adapt/burgers"]).sum() > 0
    assert [r["step"] for r in one] == [r["step"] for r in two]
    for a, b in zip(one, two):
        assert abs(a["loss"] - b["loss"]) <= LOSS_RTOL * abs(a["loss"]), (method, a["step"], a["loss"], b["loss"])
