"""Shards and collocation points: pure functions of (spec, seed, rank, size)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import load
from pinnrun.problem.build import build_problem
from pinnrun.sampling.collocation import sample_problem
from pinnrun.sampling.sequences import METHODS, unit_block
from pinnrun.sampling.shards import shard


def test_weak_shards_are_consecutive_blocks_of_the_global_sequence():
    s = [shard(100, r, 4, "weak") for r in range(4)]
    assert [(x.start, x.count, x.total) for x in s] == [
        (0, 100, 400),
        (100, 100, 400),
        (200, 100, 400),
        (300, 100, 400),
    ]


def test_strong_shards_split_the_global_count_and_cover_it_exactly():
    assert [(p.start, p.count, p.total) for p in (shard(10, r, 3, "strong") for r in range(3))] == [
        (0, 4, 10),
        (4, 3, 10),
        (7, 3, 10),
    ]  # the first points % size ranks take one more
    for n, k in [(100, 4), (10, 3), (1, 2), (7, 7), (5, 8)]:
        parts = [shard(n, r, k, "strong") for r in range(k)]
        assert sum(p.count for p in parts) == n
        assert all(p.total == n for p in parts)
        assert max(p.count for p in parts) - min(p.count for p in parts) <= 1
        starts = [p.start for p in parts]
        assert starts == [sum(p.count for p in parts[:r]) for r in range(k)]


def test_shard_rejects_bad_input():
    with pytest.raises(ValueError, match=r"^rank 2 outside 0\.\.1$"):
        shard(10, 2, 2, "weak")
    with pytest.raises(ValueError, match=r"^unknown scaling mode 'medium' \(weak, strong\)$"):
        shard(10, 0, 2, "medium")


@pytest.mark.parametrize("method", METHODS)
def test_blocks_concatenate_to_the_whole_sequence(method):
    whole = unit_block(method, 3, 11, 0, 96, 96)
    parts = np.concatenate([unit_block(method, 3, 11, s, 32, 96) for s in (0, 32, 64)])
    np.testing.assert_array_equal(whole, parts)
    assert whole.shape == (96, 3) and (whole >= 0).all() and (whole < 1).all()
    assert len(np.unique(whole, axis=0)) == 96


@pytest.mark.parametrize("scaling", ["weak", "strong"])
@pytest.mark.parametrize("problem", ["burgers_soft", "poisson1d", "heat1d"])
def test_ranks_together_hold_exactly_the_single_rank_set(problem, scaling):
    loaded = load(problem, ["sampling.points.initial=64"] if problem != "poisson1d" else [])
    pb = build_problem(loaded)
    k = 3
    if scaling == "weak":
        # k ranks with N each == one rank with k*N
        single_pb = build_problem(
            load(
                problem,
                [f"sampling.points.{t.name}={k * t.points}" for t in pb.terms]
                + (["sampling.points.initial=192"] if problem != "poisson1d" else []),
            )
        )
        single = sample_problem(single_pb, "sobol", 0, 0, 1, "weak")
    else:
        single = sample_problem(pb, "sobol", 0, 0, 1, "strong")
    shards = [sample_problem(pb, "sobol", 0, r, k, scaling) for r in range(k)]
    for term in pb.terms:
        joined = np.concatenate([s[term.name].x for s in shards])
        np.testing.assert_array_equal(joined, single[term.name].x)
        for key, values in single[term.name].arrays.items():
            np.testing.assert_array_equal(np.concatenate([s[term.name].arrays[key] for s in shards]), values)


def test_points_lie_where_their_term_holds():
    pb = build_problem(load("burgers_soft"))
    pts = sample_problem(pb, "sobol", 0, 0, 1, "weak")
    x, t = pts["burgers"].x.T
    assert (-1 <= x).all() and (x <= 1).all() and (0 <= t).all() and (t <= 1).all()
    assert x.std() > 0.5 and t.std() > 0.25  # spread over the whole domain
    init = pts["initial"]
    np.testing.assert_array_equal(init.x[:, 1], 0.0)
    np.testing.assert_allclose(init.arrays["value"][:, 0], -np.sin(np.pi * init.x[:, 0]))
    walls = pts["walls"].x
    assert set(np.unique(walls[:, 0])) == {-1.0, 1.0}
    assert abs((walls[:, 0] > 0).mean() - 0.5) < 0.05  # both ends sampled evenly
    np.testing.assert_array_equal(pts["walls"].arrays["value"], 0.0)


def test_sampling_is_reproducible_and_seeded():
    pb = build_problem(load("heat1d"))
    a = sample_problem(pb, "halton", 5, 1, 2, "weak")
    b = sample_problem(pb, "halton", 5, 1, 2, "weak")
    c = sample_problem(pb, "halton", 6, 1, 2, "weak")
    np.testing.assert_array_equal(a["heat"].x, b["heat"].x)
    assert not np.array_equal(a["heat"].x, c["heat"].x)
    assert not np.array_equal(a["heat"].x, a["initial"].x[:, :1])
