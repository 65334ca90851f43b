"""Micro-batching inside a rank: the loss and gradient of the whole shard, a slice at a time."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers import PROBLEMS
from pinnrun.problem.terms.base import Batch
from pinnrun.sampling.shards import Shard
from pinnrun.training.comm import LocalComm
from pinnrun.training.micro_batches import stack
from pinnrun.training.session import build_session

SMALL = ["network.hidden=[12,12]", "network.dtype=float64"]
# Term kinds each problem brings: burgers_soft pde/initial/dirichlet; heat_disk Robin (normals);
# nls periodic (point pairs) and two outputs; diffusion_reaction data with an unknown parameter;
# navier_stokes_inverse data observing derived quantities (derivatives of a stream function).
CASES = {
    "burgers_soft": ["sampling.points.burgers=601", "sampling.points.initial=37", "sampling.points.walls=41"],
    "heat_disk": ["sampling.points.heat=300", "sampling.points.start=31", "sampling.points.rim=33"],
    "nls": ["sampling.points.real=200", "sampling.points.imaginary=200", "sampling.points.wrap=23"],
    "diffusion_reaction": ["sampling.points.reaction=300", "sampling.points.start=31", "sampling.points.ends=17"],
    "navier_stokes_inverse": ["sampling.points.momentum_x=150", "sampling.points.momentum_y=150"],
}


def session(problem: str, *sets: str):
    return build_session(PROBLEMS / f"{problem}.yaml", LocalComm(), [*SMALL, *CASES[problem], *sets])


@pytest.mark.slow
@pytest.mark.parametrize("problem", CASES)
def test_micro_batched_loss_and_gradient_are_the_whole_shards(problem):
    whole = session(problem)
    # 97 points per micro-batch: no term divides evenly, so every term has padding rows
    batched = session(problem, "training.micro_batch=97")
    assert whole.losses.micro_batches == 1 and batched.losses.micro_batches > 3
    for v, w in zip(batched.variables, whole.variables):
        assert np.array_equal(v.numpy(), w.numpy())
    terms, grad = (t.numpy() for t in whole.losses.value_and_gradient(whole.variables))
    terms_mb, grad_mb = (t.numpy() for t in batched.losses.value_and_gradient(batched.variables))
    assert (terms > 0).all() and np.abs(grad).max() > 0
    np.testing.assert_allclose(terms_mb, terms, rtol=1e-12)
    np.testing.assert_allclose(grad_mb, grad, rtol=1e-9, atol=1e-13 * np.abs(grad).max())
    np.testing.assert_allclose(batched.losses().numpy(), terms, rtol=1e-12)  # the forward-only sum too


@pytest.mark.slow
def test_adam_and_lbfgs_take_the_same_steps_micro_batched():
    sets = ["training.adam.steps=6", "training.lbfgs.steps=6", "training.log_every=2"]
    runs = {}
    for label, extra in (("whole", []), ("batched", ["training.micro_batch=97"])):
        s = session("burgers_soft", *sets, *extra)
        records = []
        s.trainer.run(records.append)
        runs[label] = (records, [v.numpy() for v in s.variables], s.trainer.log)
    (whole, p_whole, log_whole), (batched, p_batched, log_batched) = runs["whole"], runs["batched"]
    assert [(r["phase"], r["step"]) for r in batched] == [(r["phase"], r["step"]) for r in whole]
    assert [(p.name, p.steps, p.evaluations) for p in log_batched.phases] == [
        (p.name, p.steps, p.evaluations) for p in log_whole.phases
    ]
    np.testing.assert_allclose([r["loss"] for r in batched], [r["loss"] for r in whole], rtol=1e-10)
    assert whole[-1]["loss"] < whole[0]["loss"]
    for a, b in zip(p_batched, p_whole):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_an_empty_strong_block_stays_empty_in_micro_batches():
    """poisson1d has one point per end: on 2 ranks (strong) rank 1 holds none of them."""
    from pinnrun.problem.build import build_problem
    from pinnrun.sampling.collocation import sample_problem
    from pinnrun.spec.loader import load_spec
    from pinnrun.training.losses import LossTerms

    loaded = load_spec(PROBLEMS / "poisson1d.yaml", ["scaling=strong", "network.dtype=float64"])
    problem = build_problem(loaded)
    s = build_session(loaded, LocalComm())
    for rank in range(2):
        batches = sample_problem(problem, "sobol", 0, rank, 2, "strong")
        whole = LossTerms(problem, batches, s.net, s.parameters)
        batched = LossTerms(problem, batches, s.net, s.parameters, micro_batch=5)
        assert batched.micro_batches > 1
        np.testing.assert_allclose(batched().numpy(), whole().numpy(), rtol=1e-12)


def test_stack_keeps_periodic_pairs_together_and_masks_padding():
    n = 7
    first = np.arange(n, dtype=float)[:, None] * [1.0, 0.0]
    batch = Batch(
        np.concatenate([first, first + [0.0, 10.0]]),
        Shard(0, n, n),
        {"observed": np.arange(n, dtype=float)[:, None]},
        blocks=2,
    )
    s = stack(batch, 3)  # 3 slices of 3 rows: 2 padding rows, copies of the last point
    assert s.x.shape == (3, 6, 2) and s.arrays["observed"].shape == (3, 3, 1)
    for i in range(3):  # row j of a slice and row 3 + j are partners, as in the whole batch
        np.testing.assert_array_equal(s.x[i, 3:] - s.x[i, :3], np.tile([0.0, 10.0], (3, 1)))
    assert s.x[:, :3, 0].ravel().tolist() == [0, 1, 2, 3, 4, 5, 6, 6, 6]
    assert s.mask.ravel().tolist() == [1] * 7 + [0] * 2
    assert s.arrays["observed"].ravel().tolist() == [0, 1, 2, 3, 4, 5, 6, 6, 6]
    assert stack(Batch(first, Shard(0, n, n)), 7).mask is None  # an even split needs no mask


@pytest.mark.slow
def test_micro_batched_step_compiles_once_for_every_micro_batch():
    """The loop body is traced once: the graph does not grow with the number of micro-batches."""
    sizes = {}
    for mb in (97, 13):
        s = session("burgers_soft", f"training.micro_batch={mb}")
        f = tf.function(lambda: s.losses.value_and_gradient(s.variables))
        sizes[s.losses.micro_batches] = len(f.get_concrete_function().graph.as_graph_def().node)
    (few, n_few), (many, n_many) = sorted(sizes.items())
    # the same body either way; only which terms need a padding mask differs
    assert many > 5 * few and abs(n_many - n_few) < 0.05 * n_few


def test_a_memory_budget_picks_the_largest_micro_batch_that_fits():
    from pinnrun.spec.loader import load_spec
    from pinnrun.spec.memory import _estimate, micro_batch_points

    budget = 400 * 2**20
    loaded = load_spec(
        PROBLEMS / "burgers.yaml", ["sampling.points.burgers=100000", f"training.memory_budget={budget}"]
    )
    spec, parsed = loaded.spec, loaded.expressions
    for ranks in (1, 3):
        points = micro_batch_points(spec, ranks, parsed)
        shard = -(-100000 // ranks)
        assert points is not None and points < shard
        assert _estimate(spec, ranks, parsed, points).total <= budget
        m = -(-shard // points)
        assert _estimate(spec, ranks, parsed, -(-shard // (m - 1))).total > budget  # one micro-batch fewer: too big
    assert (
        micro_batch_points(load_spec(PROBLEMS / "burgers.yaml", ["training.memory_budget=8GiB"]).spec, 1, parsed)
        is None
    )  # fits whole: no micro-batches


@pytest.mark.slow
def test_validate_states_the_estimate_and_refuses_a_budget_nothing_fits(tmp_path):
    from test_cli_errors import one_error, pinnrun

    ok = pinnrun("validate", str(PROBLEMS / "burgers.yaml"), "--set", "training.memory_budget=200 MiB", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "memory: about 181.2 MiB in 2 micro-batches of at most 4,096 points on 1 rank" in ok.stdout
    line = one_error(
        pinnrun("validate", str(PROBLEMS / "burgers.yaml"), "--set", "training.memory_budget=130MiB", cwd=tmp_path)
    )
    assert line.endswith(
        "--set training.memory_budget: 130.0 MiB is below what one rank holds whatever its "
        "micro-batches: about 140.9 MiB (traced graphs 128.0 MiB, network 1.4 MiB, "
        "reference 11.5 MiB)"
    )
    line = one_error(
        pinnrun("validate", str(PROBLEMS / "burgers.yaml"), "--set", "training.memory_budget=8 parsecs", cwd=tmp_path)
    )
    assert "a size is a number of bytes or a number and a unit, e.g. 8 GiB" in line


def test_launch_points_to_a_memory_budget_when_the_points_do_not_fit_and_a_budget_fits():
    from pinnrun.errors import PinnrunError
    from pinnrun.launch.command import LaunchPlan
    from pinnrun.launch.memory_check import check_plan_memory
    from pinnrun.spec.loader import load_spec
    from pinnrun.launch.cluster import Host

    local = [Host(name="localhost", slots=2)]
    big = ["sampling.points.burgers=1000000", "scaling=weak"]
    loaded = load_spec(PROBLEMS / "burgers.yaml", big)
    with pytest.raises(PinnrunError, match=r"set a memory budget per rank \(--memory-budget, training.memory_budget\)"):
        check_plan_memory(loaded.spec, LaunchPlan(2, local, "mpirun", "mpi"), loaded.expressions, memory=lambda: 2**31)
    budgeted = load_spec(PROBLEMS / "burgers.yaml", [*big, "training.memory_budget=500MiB"])
    assert (
        check_plan_memory(
            budgeted.spec, LaunchPlan(2, local, "mpirun", "mpi"), budgeted.expressions, memory=lambda: 2**31
        )
        == []
    )


@pytest.mark.parametrize(
    "size, message",
    [
        ("9" * 400 + " GiB", "a size is a number of bytes or a number and a unit"),  # no float overflow
        ("2 TiB", "less than or equal to 1099511627776"),
        ("true", "a boolean is not a number"),
    ],
)
def test_a_hostile_memory_budget_is_one_error(size, message):
    from pinnrun.errors import SpecError
    from pinnrun.spec.loader import load_spec

    with pytest.raises(SpecError, match=message):
        load_spec(PROBLEMS / "burgers.yaml", [f"training.memory_budget={size}"])


@pytest.mark.slow
def test_resume_says_the_micro_batch_flags_do_not_apply(tmp_path):
    from test_cli_errors import one_error, pinnrun

    for flag, value in (("--memory-budget", "1GiB"), ("--micro-batch", "100")):
        line = one_error(pinnrun("train", "--resume", str(tmp_path), flag, value, cwd=tmp_path))
        assert line.endswith("--memory-budget, --micro-batch and --out do not apply"), line
