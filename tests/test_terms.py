"""Every condition kind's residual vanishes on a known solution (and does not on a wrong one).

The network is replaced by the exact solution itself (a tf.Module evaluating the
exact expressions), so each term's loss must be ~0 to rounding: this checks where
each kind draws its points, its normals, its pairing and its residual formula.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers import write_spec
from pinnrun.model.parameters import Parameters
from pinnrun.problem.build import load_problem
from pinnrun.sampling.collocation import sample_problem
from pinnrun.spec.expressions import parse
from pinnrun.training.losses import LossTerms

ROUNDING = 1e-18  # squared residuals of float64 evaluations of order-1 quantities


class ExactNet(tf.Module):
    """Outputs from exact expressions of the inputs, in float64."""

    dtype = tf.float64

    def __init__(self, inputs, exact: dict[str, str]):
        super().__init__()
        self.inputs = tuple(inputs)
        self.exprs = [parse(src, variables=self.inputs) for src in exact.values()]

    def __call__(self, x):
        env = {name: x[:, i : i + 1] for i, name in enumerate(self.inputs)}
        return tf.concat([e.evaluate(env, backend="tf") + tf.zeros_like(x[:, :1]) for e in self.exprs], axis=1)


def spec(**fields) -> dict:
    base = {
        "name": "t",
        "variables": {"space": ["x"]},
        "outputs": ["u"],
        "geometry": {"interval": [0, 1]},
        "pde": {"eq": "u_xx"},
        "conditions": {},
        "sampling": {"points": {"eq": 16}},
        "network": {"hidden": [4], "dtype": "float64"},
        "training": {"adam": {"steps": 1}},
    }
    return base | fields


def losses(tmp_path, data: dict, exact: dict[str, str], parameters: dict | None = None) -> dict[str, float]:
    _, problem = load_problem(write_spec(tmp_path, data))
    batches = sample_problem(problem, "sobol", 0, 0, 1, "weak")
    params = Parameters(problem.parameters, "float64")
    for raw, name in zip(params.raw, params.names):
        if parameters and name in parameters:
            spec_ = problem.parameters[name]
            raw.assign(np.log(parameters[name]) if spec_.positive else parameters[name])
    terms = LossTerms(problem, batches, ExactNet(problem.inputs, exact), params)
    return dict(zip(terms.names, terms().numpy()))


def test_dirichlet_on_a_polygon_boundary(tmp_path):
    data = spec(
        variables={"space": ["x", "y"]},
        geometry={"polygon": [[-1, -1], [1, -1], [1, 0], [0, 0], [0, 1], [-1, 1]]},
        pde={"eq": "u_xx + u_yy + 2*pi**2*sin(pi*x)*sin(pi*y)"},
        conditions={"edge": {"kind": "dirichlet", "on": "boundary", "value": "sin(pi*x)*sin(pi*y)"}},
        sampling={"points": {"eq": 64, "edge": 64}},
    )
    got = losses(tmp_path, data, {"u": "sin(pi*x)*sin(pi*y)"})
    assert got["eq"] < 1e-20 and got["edge"] < ROUNDING
    assert losses(tmp_path, data, {"u": "sin(pi*x)*sin(pi*y) + 0.1"})["edge"] == pytest.approx(0.01)


def test_neumann_and_robin_on_a_disk_use_outward_normals(tmp_path):
    data = spec(
        variables={"space": ["x", "y"]},
        geometry={"disk": {"center": [0, 0], "radius": 1}},
        pde={"eq": "u_xx + u_yy - 4"},
        conditions={
            "flux": {"kind": "neumann", "on": "boundary", "value": 2},
            "mixed": {"kind": "robin", "on": "boundary", "a": 1, "b": "2", "value": "5"},
        },
        sampling={"points": {"eq": 32, "flux": 32, "mixed": 32}},
    )
    got = losses(tmp_path, data, {"u": "x**2 + y**2"})  # du/dn = 2r = 2, u + 2 du/dn = 5
    assert max(got.values()) < 1e-20
    assert losses(tmp_path, data, {"u": "-(x**2 + y**2)"})["flux"] == pytest.approx(16)  # inward: -2 - 2


def test_neumann_on_a_hole_points_out_of_the_domain_into_the_hole(tmp_path):
    data = spec(
        variables={"space": ["x", "y"]},
        geometry={
            "difference": [
                {"rectangle": [[-1, 1], [-1, 1]]},
                {"disk": {"center": [0, 0], "radius": 0.5}, "name": "hole"},
            ]
        },
        pde={"eq": "u_xx + u_yy - 4"},
        conditions={"rim": {"kind": "neumann", "on": "hole", "value": -1}},  # -2r at r = 0.5
        sampling={"points": {"eq": 32, "rim": 32}},
    )
    assert losses(tmp_path, data, {"u": "x**2 + y**2"})["rim"] < ROUNDING


def test_periodic_pairs_translated_points_values_and_derivatives(tmp_path):
    data = spec(
        geometry={"interval": [0, 2]},
        pde={"eq": "u_xx + pi**2*sin(pi*x)"},
        conditions={"wrap": {"kind": "periodic", "on": ["left", "right"], "derivatives": ["u_x"]}},
        sampling={"points": {"eq": 16, "wrap": 4}},
    )
    assert losses(tmp_path, data, {"u": "sin(pi*x)"})["wrap"] < ROUNDING
    # a value that differs at the two ends: (u(0) - u(2))^2 = 4 and u_x equal, mean over 2 components
    assert losses(tmp_path, data, {"u": "x"})["wrap"] == pytest.approx(2.0)


def test_periodic_faces_of_a_rectangle(tmp_path):
    data = spec(
        variables={"space": ["x", "y"]},
        geometry={"rectangle": [[0, 2], [0, 1]]},
        pde={"eq": "u_xx + u_yy"},
        conditions={"wrap": {"kind": "periodic", "on": ["left", "right"]}},
        sampling={"points": {"eq": 16, "wrap": 16}},
    )
    assert losses(tmp_path, data, {"u": "sin(pi*x)*y**2"})["wrap"] < ROUNDING
    assert losses(tmp_path, data, {"u": "x*y"})["wrap"] > 0.1


def test_initial_value_and_initial_time_derivative(tmp_path):
    data = spec(
        variables={"space": ["x"], "time": "t"},
        time_domain=[0, 1],
        pde={"eq": "u_tt - 4*u_xx"},
        conditions={
            "shape": {"kind": "initial", "value": "sin(pi*x)"},
            "rest": {"kind": "initial", "derivative": "u_t", "value": 0},
            "ends": {"kind": "dirichlet", "on": "boundary", "value": 0},
        },
        sampling={"points": {"eq": 32, "shape": 16, "rest": 16, "ends": 16}},
    )
    got = losses(tmp_path, data, {"u": "sin(pi*x)*cos(2*pi*t)"})
    assert max(got.values()) < 1e-18
    moving = losses(tmp_path, data, {"u": "sin(pi*x)*cos(2*pi*t) + t"})
    assert moving["rest"] == pytest.approx(1.0) and moving["shape"] < ROUNDING


def test_operator_condition_ties_outputs_and_derivatives(tmp_path):
    data = spec(
        outputs=["u", "v"],
        pde={"eq": "u_xx + u"},
        conditions={"tie": {"kind": "operator", "on": "boundary", "residual": "u_x - v"}},
        sampling={"points": {"eq": 16, "tie": 8}},
    )
    assert losses(tmp_path, data, {"u": "sin(x)", "v": "cos(x)"})["tie"] < ROUNDING
    assert losses(tmp_path, data, {"u": "sin(x)", "v": "cos(x) + 1"})["tie"] == pytest.approx(1.0)


def test_data_term_fits_observations_read_from_csv(tmp_path):
    x = np.linspace(0.05, 0.95, 7)
    rows = "\n".join(f"{float(a)!r},{float(np.sin(np.pi * a))!r}" for a in x)
    (tmp_path / "obs.csv").write_text("X,U\n" + rows + "\n")
    data = spec(
        pde={"eq": "u_xx + pi**2*u"},
        conditions={"seen": {"kind": "data", "file": "obs.csv", "columns": {"x": "X", "u": "U"}}},
    )
    assert losses(tmp_path, data, {"u": "sin(pi*x)"})["seen"] < ROUNDING
    assert losses(tmp_path, data, {"u": "sin(pi*x) + 0.5"})["seen"] == pytest.approx(0.25)


def test_parameters_enter_residuals_at_their_current_value(tmp_path):
    data = spec(
        variables={"space": ["x"], "time": "t"},
        time_domain=[0, 1],
        parameters={"D": {"initial": 0.5, "positive": True}},
        pde={"eq": "u_t - D*u_xx"},
        sampling={"points": {"eq": 32}},
    )
    exact = {"u": "exp(-0.1*pi**2*t)*sin(pi*x)"}
    assert losses(tmp_path, data, exact, {"D": 0.1})["eq"] < 1e-20
    assert losses(tmp_path, data, exact, {"D": 0.2})["eq"] > 1e-3
