"""Problems built from specs: references, hard constraints, residuals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from helpers import load, spec_dict, write_spec
from pinnrun.model.derivatives import evaluate_fields
from pinnrun.model.mlp import TransformedNet, build_model
from pinnrun.problem.build import build_problem
from pinnrun.problem.reference import build_reference, relative_l2
from pinnrun.sampling.collocation import sample_problem
from pinnrun.training.losses import LossTerms

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"


def test_exact_reference_on_its_grid():
    loaded = load("heat1d")
    pb = build_problem(loaded)
    ref = build_reference(pb, loaded.spec.reference, loaded.path.parent)
    assert ref.shape == (256, 101)
    x, t = np.meshgrid(ref.axes["x"], ref.axes["t"], indexing="ij")
    np.testing.assert_allclose(ref.values["u"], np.exp(-0.1 * np.pi**2 * t) * np.sin(np.pi * x))
    assert relative_l2({"u": ref.values["u"] * 1.01}, ref) == pytest.approx(0.01)


def test_reference_from_a_data_file(tmp_path):
    data = spec_dict("poisson1d")
    x = np.linspace(-1, 1, 11)
    np.savez(tmp_path / "ref.npz", x=x, u=np.sin(np.pi * x))
    data["reference"] = {"file": "ref.npz"}
    loaded = load(write_spec(tmp_path, data))
    ref = build_reference(build_problem(loaded), loaded.spec.reference, loaded.path.parent)
    np.testing.assert_array_equal(ref.axes["x"], x)
    np.testing.assert_array_equal(ref.points()[:, 0], x)


@pytest.mark.slow
def test_burgers_cole_hopf_reference_matches_deepxde_data():
    path = SHARED / "deepxde_Burgers.npz"
    if not path.exists():
        pytest.skip("../shared/reference is absent")
    with np.load(path, allow_pickle=False) as d:
        x, t, usol = d["x"].ravel(), d["t"].ravel(), d["usol"]
    for name in ("burgers", "burgers_soft"):
        loaded = load(name)
        pb = build_problem(loaded)
        # x: 256 points on [-1, 1], t: 0, 0.01, ..., 1 -- DeepXDE's grid, which stops at t = 0.99
        spec_ref = loaded.spec.reference.model_copy(update={"grid": {"x": 256, "t": 101}})
        ref = build_reference(pb, spec_ref, loaded.path.parent)
        np.testing.assert_array_equal(ref.axes["x"], x)
        np.testing.assert_array_equal(ref.axes["t"][:100], t)
        ours = ref.values["u"][:, :100]
        err = np.linalg.norm(ours - usol) / np.linalg.norm(usol)
        assert err < 1e-11, (name, err)  # measured 2.9e-12: the spec's reference is the solver's own answer


def test_output_transform_makes_conditions_exact():
    loaded = load("burgers", ["network.dtype=float64"])  # exactness to 1e-12 needs float64
    pb = build_problem(loaded)
    model = build_model(loaded.spec.network, pb, seed=0)
    assert isinstance(model, TransformedNet)
    xs = np.linspace(-1, 1, 9)
    at_t0 = model(tf.constant(np.stack([xs, 0 * xs], 1))).numpy()[:, 0]
    np.testing.assert_allclose(at_t0, -np.sin(np.pi * xs), atol=1e-12)
    ts = np.linspace(0, 1, 5)
    at_walls = model(tf.constant(np.array([[s, t] for s in (-1.0, 1.0) for t in ts]))).numpy()
    np.testing.assert_allclose(at_walls, 0.0, atol=1e-12)
    # derivatives flow through the transform: u_t at t=0 is the raw net output times (1 - x^2)
    from pinnrun.spec.expressions import Derivative

    cols = [tf.constant(xs[:, None]), tf.constant(np.zeros((9, 1)))]
    f = evaluate_fields(model, cols, pb.inputs, pb.outputs, frozenset({Derivative("u", ("t",))}))
    raw = model.net(tf.concat(cols, 1)).numpy()
    np.testing.assert_allclose(f[Derivative("u", ("t",))].numpy(), raw * (1 - xs[:, None] ** 2), atol=1e-12)


def test_neumann_residual_uses_the_outward_normal(tmp_path):
    data = spec_dict("poisson1d")
    data["conditions"]["right"] = {"kind": "neumann", "on": "right", "value": "-pi"}  # u'(1) = -pi
    data["conditions"]["left"] = {"kind": "neumann", "on": "left", "value": "pi"}  # -u'(-1) = pi
    loaded = load(write_spec(tmp_path, data))
    pb = build_problem(loaded)
    pts = sample_problem(pb, "sobol", 0, 0, 1, "weak")

    class Exact(tf.Module):  # u = sin(pi x): u' = pi cos(pi x) = -pi at both ends
        dtype = tf.float64

        def __call__(self, x):
            return tf.sin(np.pi * x)

    losses = LossTerms(pb, pts, Exact())().numpy()
    assert losses.tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-20)
