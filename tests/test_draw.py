"""Exact sharded drawing: k ranks' blocks are bit-identical to one draw of the whole,
for every sampler and every region kind, rejection sampling included."""

from __future__ import annotations

import numpy as np
import pytest

from pinnrun.problem.regions import PartSampler
from pinnrun.problem.regions.csg import accepted_fraction
from pinnrun.sampling.draw import CHUNK, EmptyPart, draw
from pinnrun.sampling.sequences import METHODS, unit_block
from pinnrun.sampling.shards import shard
from test_regions import R_HOLE, REGION_NAMES, region_of

N = 37  # per rank (weak) and in all (strong, k = 2, 3: blocks of differing sizes)


def samplers(region):
    """The interior, the whole boundary and the first named part (a CSG operand's where there is one)."""
    parts = region.part_names()
    yield "interior", region.interior()
    yield "boundary", region.part("boundary")
    yield parts[0], region.part(parts[0])


def blocks(sampler, method, seed, points, k, scaling):
    drawn = [
        draw(sampler, method, seed, s.start, s.count, s.total) for s in (shard(points, r, k, scaling) for r in range(k))
    ]
    x = np.concatenate([d[0] for d in drawn])
    normals = None if drawn[0][1] is None else np.concatenate([d[1] for d in drawn])
    return x, normals


@pytest.mark.slow
@pytest.mark.parametrize("method", [m for m in METHODS if m != "uniform"])  # uniform: an alias, tested below
@pytest.mark.parametrize("name", REGION_NAMES)
def test_ranks_together_hold_exactly_what_one_rank_draws(name, method):
    region = region_of(name)
    for part, sampler in samplers(region):
        for k in (1, 2, 3):
            for scaling, total in (("weak", k * N), ("strong", N)):
                whole_x, whole_n = draw(sampler, method, 5, 0, total, total)
                x, normals = blocks(sampler, method, 5, N, k, scaling)
                assert x.shape == (total, region.dim), (part, k, scaling)
                np.testing.assert_array_equal(x, whole_x, err_msg=f"{part} k={k} {scaling}")
                if whole_n is None:
                    assert normals is None
                else:
                    np.testing.assert_array_equal(normals, whole_n)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_rejection_blocks_straddling_candidate_chunks_stay_exact(method):
    # a block that starts in one candidate chunk and ends several chunks later
    sampler = region_of("difference").interior()
    total = 3 * CHUNK
    whole, _ = draw(sampler, method, 2, 0, total, total)
    cuts = [0, 1, CHUNK - 5, CHUNK + 3, 2 * CHUNK + 17, total]
    parts = [draw(sampler, method, 2, a, b - a, total)[0] for a, b in zip(cuts, cuts[1:])]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert len(np.unique(whole, axis=0)) == total  # no point twice
    assert not (np.linalg.norm(whole, axis=1) < R_HOLE).any()


def test_without_rejection_a_draw_is_the_unit_block_mapped():
    region = region_of("disk")
    x, normals = draw(region.interior(), "halton", 9, 10, 20, 50)
    expected, _ = region.interior().map(unit_block("halton", 2, 9, 10, 20, 50))
    np.testing.assert_array_equal(x, expected)
    assert normals is None


def test_uniform_is_the_old_name_of_pseudo_random():
    sampler = region_of("union").interior()
    np.testing.assert_array_equal(
        draw(sampler, "uniform", 1, 3, 40, 100)[0], draw(sampler, "pseudo-random", 1, 3, 40, 100)[0]
    )


def test_hammersley_first_coordinate_is_a_shifted_regular_grid():
    u = unit_block("hammersley", 3, 4, 0, 8, 8)
    steps = np.diff(u[:, 0])
    np.testing.assert_allclose(steps, 1 / 8)
    assert 0 <= u[0, 0] < 1 / 8
    assert not np.array_equal(u, unit_block("hammersley", 3, 5, 0, 8, 8))  # the seed matters


def test_accepted_fraction_estimates_the_kept_share():
    assert accepted_fraction(region_of("disk").interior(), 4096) == 1.0
    kept = accepted_fraction(region_of("difference").interior(), 4096)
    assert kept == pytest.approx(1 - np.pi * R_HOLE**2 / 4, abs=0.01)


def test_an_empty_part_is_refused_in_bounded_time():
    nothing = PartSampler(2, lambda u: (u, None), lambda u, x, n: np.zeros(len(u), dtype=bool))
    with pytest.raises(EmptyPart, match=r"^no point of the first 1048576 candidates lies in it"):
        draw(nothing, "sobol", 0, 0, 10, 10)


def test_bad_blocks_and_methods_are_refused():
    sampler = region_of("rectangle").interior()
    with pytest.raises(ValueError, match=r"^block \[5, 15\) outside a sequence of 10$"):
        draw(sampler, "sobol", 0, 5, 10, 10)
    with pytest.raises(ValueError, match=r"^unknown sampling method 'grid' \(methods: sobol, halton, hammersley"):
        draw(sampler, "grid", 0, 0, 10, 10)


def test_an_empty_block_has_the_right_shape():
    x, normals = draw(region_of("difference").part("hole"), "sobol", 0, 5, 0, 5)
    assert x.shape == (0, 2) and normals.shape == (0, 2)
