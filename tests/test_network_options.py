"""network.fourier_features and network.periodic: what the first layer reads, exact periodicity
(derivatives included), derivatives through the embedding, the seed of B, validation, training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from helpers import PROBLEMS
from pinnrun.errors import SpecError
from pinnrun.model.derivatives import evaluate_fields
from pinnrun.model.embeddings import fourier_matrix
from pinnrun.model.mlp import build_model
from pinnrun.problem.build import load_problem
from pinnrun.spec.expressions import Derivative
from pinnrun.spec.memory import input_width, parameter_count
from pinnrun.training.comm import LocalComm
from pinnrun.training.session import build_session

# Diffusion on a ring, x in [0, 2]: the periodic embedding makes u(0, t) = u(2, t) exact, so no
# periodic condition is needed. Line numbers (1-based): 12 network / 15 periodic / 16 x /
# 17 fourier_features.
RING = """\
name: ring
variables: {space: [x], time: t}
outputs: [u]
constants: {k: 0.1}
geometry: {interval: [0, 2]}
time_domain: [0, 1]
pde: {diffusion: u_t - k*u_xx}
conditions:
  start: {kind: initial, value: sin(pi*x)}
sampling:
  points: {diffusion: 256, start: 32}
network:
  hidden: [16, 16]
  dtype: float64
  periodic:
    x: {harmonics: 2}
  fourier_features: {features: 8, scale: 1.0}
training:
  adam: {steps: 40, learning_rate: 1.0e-2}
  log_every: 10
reference:
  exact: exp(-k*pi**2*t)*sin(pi*x)
"""


def ring(tmp_path: Path, old: str = "", new: str = "") -> Path:
    assert not old or RING.count(old) == 1, old
    path = tmp_path / "ring.yaml"
    path.write_text(RING.replace(old, new) if old else RING)
    return path


def model(path: Path, overrides=(), seed: int = 0):
    loaded, problem = load_problem(path, list(overrides))
    return loaded, problem, build_model(loaded.spec.network, problem, seed=seed)


def fields(net, problem, x: np.ndarray, t: np.ndarray, names: list[tuple[str, ...]]) -> dict:
    cols = [tf.constant(v[:, None], tf.float64) for v in (x, t)]
    wanted = frozenset(Derivative("u", wrt) for wrt in names)
    out = evaluate_fields(net, cols, problem.inputs, problem.outputs, wanted)
    return {"u": out["u"].numpy()} | {"u_" + "".join(d.wrt): out[d].numpy() for d in wanted}


DERIVATIVES = [("x",), ("t",), ("x", "x"), ("x", "t")]


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides,period", [([], 2.0), (["network.periodic.x.period=0.5"], 0.5)], ids=["box-width", "given-period"]
)
def test_outputs_and_derivatives_are_exactly_periodic(tmp_path, overrides, period):
    _, problem, net = model(ring(tmp_path), overrides)
    t = np.linspace(0, 1, 7)
    x0 = np.full_like(t, 0.3)
    here, there = (fields(net, problem, x, t, DERIVATIVES) for x in (x0, x0 + period))
    for name in here:
        assert np.abs(here[name]).max() > 1e-3, name  # not trivially periodic: the fields vary
        np.testing.assert_allclose(
            there[name], here[name], rtol=0, atol=1e-12 * max(1, np.abs(here[name]).max()), err_msg=name
        )
    # and the box's ends meet (the default period is its width)
    if period == 2.0:
        ends = [fields(net, problem, np.full_like(t, x), t, DERIVATIVES) for x in (0.0, 2.0)]
        for name in ends[0]:
            np.testing.assert_allclose(ends[1][name], ends[0][name], atol=1e-12, err_msg=name)


def test_derivatives_through_fourier_features_match_finite_differences(tmp_path):
    _, problem, net = model(
        ring(tmp_path, "  periodic:\n    x: {harmonics: 2}\n", ""), ["network.fourier_features.scale=2.0"]
    )
    assert net.embedding.periodic == [] and net.embedding.b is not None
    rng = np.random.default_rng(1)
    x, t = rng.uniform(0.1, 1.9, 9), rng.uniform(0.1, 0.9, 9)
    f = fields(net, problem, x, t, DERIVATIVES)
    h = 1e-6
    dx = {s: fields(net, problem, x + s * h, t, [("x",)]) for s in (1, -1)}
    dt = {s: fields(net, problem, x, t + s * h, [("x",)]) for s in (1, -1)}

    def central(steps, name):
        return (steps[1][name] - steps[-1][name]) / (2 * h)

    for got, want in (
        (f["u_x"], central(dx, "u")),
        (f["u_t"], central(dt, "u")),
        (f["u_xx"], central(dx, "u_x")),
        (f["u_xt"], central(dt, "u_x")),
    ):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7 * np.abs(want).max())


def test_fourier_features_are_what_the_first_layer_reads(tmp_path):
    """gamma(x) = [cos(2 pi x B), sin(2 pi x B)] of the rescaled inputs, B ~ N(0, scale^2) from the seed."""
    _, problem, net = model(
        ring(tmp_path, "  periodic:\n    x: {harmonics: 2}\n", ""), ["network.fourier_features.scale=3.0"], seed=5
    )
    b = fourier_matrix(5, 2, 8, 3.0)
    np.testing.assert_array_equal(net.embedding.b.numpy(), 2 * np.pi * b)
    xy = np.array([[0.0, 0.0], [2.0, 1.0], [0.5, 0.25]])
    scaled = (xy - [1.0, 0.5]) * [1.0, 2.0]
    got = net.embedding(tf.constant(scaled)).numpy()
    np.testing.assert_allclose(
        got, np.hstack([np.cos(2 * np.pi * scaled @ b), np.sin(2 * np.pi * scaled @ b)]), atol=1e-14
    )


def test_b_is_fixed_by_the_seed_and_independent_of_the_weights(tmp_path):
    np.testing.assert_array_equal(fourier_matrix(3, 2, 16, 1.5), fourier_matrix(3, 2, 16, 1.5))
    assert not np.array_equal(fourier_matrix(3, 2, 16, 1.5), fourier_matrix(4, 2, 16, 1.5))
    assert np.std(fourier_matrix(0, 4, 4096, 10.0)) == pytest.approx(10.0, rel=0.03)
    path = ring(tmp_path)
    a, b, other = (model(path, seed=s)[2] for s in (7, 7, 8))
    np.testing.assert_array_equal(a.embedding.b.numpy(), b.embedding.b.numpy())  # every rank, and a resume
    assert not np.array_equal(a.embedding.b.numpy(), other.embedding.b.numpy())
    assert not any(v is a.embedding.b for v in a.params)  # never trained
    # B comes from its own stream: the weights still come first from default_rng(seed)
    rng = np.random.default_rng(7)
    first = a.weights[0].numpy()
    np.testing.assert_array_equal(first, rng.normal(0.0, np.sqrt(2.0 / (first.shape[0] + first.shape[1])), first.shape))


@pytest.mark.parametrize(
    "overrides,width",
    [
        ([], 2 * 8 + 2 * 2),  # t: 8 features; x: 2 harmonics
        (["network.fourier_features=null"], 1 + 2 * 2),  # t as it is
        (["network.periodic={}"], 2 * 8),  # Fourier features of (x, t)
        (["network.periodic={}", "network.fourier_features=null"], 2),  # no embedding
    ],
)
def test_first_layer_fan_in_is_the_embedded_width(tmp_path, overrides, width):
    loaded, _, net = model(ring(tmp_path), overrides)
    assert net.weights[0].shape == (width, 16)
    assert (net.embedding.width if net.embedding is not None else 2) == width == input_width(loaded.spec)
    assert parameter_count(loaded.spec) == sum(int(np.prod(p.shape)) for p in net.params)
    # glorot_normal: the fan-in is the embedded width
    assert np.std(net.weights[0].numpy()) == pytest.approx(np.sqrt(2 / (width + 16)), rel=0.35)


def test_memory_estimate_counts_the_embedding_like_hidden_units(tmp_path):
    from pinnrun.spec.memory import estimate_rank_memory

    with_, without = (
        load_problem(ring(tmp_path), sets)[0] for sets in ([], ["network.periodic={}", "network.fourier_features=null"])
    )
    tapes = [estimate_rank_memory(s.spec, 1, s.expressions).parts["tapes"] for s in (with_, without)]
    assert tapes[0] / tapes[1] == pytest.approx((16 + 16 + 2 * 8 + 2 * 2) / (16 + 16))


# --------------------------------------------------------------------------
# Validation: one located line
# --------------------------------------------------------------------------


def spec_error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_problem(path)
    return info.value


@pytest.mark.parametrize(
    "old,new,line,field,fragment",
    [
        (
            "    x: {harmonics: 2}",
            "    t: {harmonics: 2}",
            16,
            "network.periodic.t",
            "'t' is the time variable; only space variables can be periodic (x)",
        ),
        ("    x: {harmonics: 2}", "    y: {}", 16, "network.periodic.y", "not a space variable (x)"),
        ("{harmonics: 2}", "{period: 0}", 16, "network.periodic.x.period", "greater than 0"),
        ("{harmonics: 2}", "{period: -2}", 16, "network.periodic.x.period", "greater than 0"),
        ("{harmonics: 2}", "{period: 1.0e-9}", 16, "network.periodic.x.period", "cycles over the domain's width 2"),
        ("{harmonics: 2}", "{harmonics: 0}", 16, "network.periodic.x.harmonics", "greater than 0"),
        ("{harmonics: 2}", "{harmonics: 65}", 16, "network.periodic.x.harmonics", "less than or equal to 64"),
        ("{harmonics: 2}", "{harmonics: 2, phase: 1}", 16, "network.periodic.x.phase", "unknown key 'phase'"),
        ("scale: 1.0}", "scale: 0}", 17, "network.fourier_features.scale", "greater than 0"),
        ("scale: 1.0}", "scale: 1.0e+5}", 17, "network.fourier_features.scale", "less than or equal to 10000"),
        ("scale: 1.0}", "scale: .inf}", 17, "network.fourier_features.scale", "finite"),
        ("features: 8", "features: 0", 17, "network.fourier_features.features", "greater than 0"),
        ("features: 8", "features: true", 17, "network.fourier_features.features", "boolean"),
        ("scale: 1.0}", "sigma: 1.0}", 17, "network.fourier_features.sigma", "unknown key 'sigma'"),
    ],
)
def test_bad_network_options_are_located(tmp_path, old, new, line, field, fragment):
    path = ring(tmp_path, old, new)
    err = spec_error(path)
    assert (err.line, err.field) == (line, field), str(err)
    assert str(err).startswith(f"{path}:{line}: {field}: ") and "\n" not in str(err)
    assert fragment in str(err), str(err)


def test_fourier_features_need_a_non_periodic_input(tmp_path):
    steady = ring(tmp_path, "variables: {space: [x], time: t}", "variables: {space: [x]}")
    text = steady.read_text()
    for old, new in (
        ("time_domain: [0, 1]\n", ""),
        ("u_t - k*u_xx", "u_xx + pi**2*sin(pi*x)"),
        ("  start: {kind: initial, value: sin(pi*x)}", "  left: {kind: dirichlet, on: left, value: 0}"),
        ("start: 32", "left: 1"),
        ("exp(-k*pi**2*t)*sin(pi*x)", "sin(pi*x)"),
    ):
        text = text.replace(old, new)
    steady.write_text(text)
    err = spec_error(steady)
    assert (err.line, err.field) == (16, "network.fourier_features"), str(err)
    assert "every input is periodic" in str(err)


@pytest.mark.slow
def test_cli_validate_refuses_in_one_line_with_exit_2(tmp_path):
    ring(tmp_path, "    x: {harmonics: 2}", "    t: {}")
    proc = subprocess.run(
        [sys.executable, "-m", "pinnrun.cli", "validate", "ring.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: ring.yaml:16: network.periodic.t: ") and proc.stderr.count("\n") == 1


# --------------------------------------------------------------------------
# Training: the loss falls with each option
# --------------------------------------------------------------------------

SMALL = [
    "network.hidden=[16,16]",
    "sampling.points.heat=256",
    "sampling.points.initial=32",
    "sampling.points.ends=32",
    "training.adam.steps=60",
    "training.adam.learning_rate=1.0e-2",
    "training.lbfgs.steps=0",
    "training.log_every=20",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "option",
    [
        ["network.fourier_features.features=16", "network.fourier_features.scale=1"],
        ["network.periodic.x.period=2", "network.periodic.x.harmonics=2"],
    ],
    ids=["fourier", "periodic"],
)
def test_loss_falls_with_each_option(option):
    session = build_session(PROBLEMS / "heat1d.yaml", LocalComm(), overrides=[*SMALL, *option])
    assert session.net.embedding is not None
    records = []
    session.trainer.run(records.append)
    losses = [r["loss"] for r in records if r["phase"] == "adam"]
    assert len(losses) >= 3 and np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0], losses
