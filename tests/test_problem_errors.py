"""Bad problems are refused before any rank starts, as one located line: a condition on a
part the domain lacks, bad polygons, empty or sliver CSG results, unusable data files,
parameters nothing depends on. Each through load_problem, as `validate` and `train` do."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import write_spec
from test_spec import spec_error

L_SHAPE = [[-1, -1], [1, -1], [1, 0], [0, 0], [0, 1], [-1, 1]]


def spec(**fields) -> dict:
    base = {
        "name": "bad",
        "variables": {"space": ["x", "y"]},
        "outputs": ["u"],
        "geometry": {"polygon": L_SHAPE},
        "pde": {"eq": "u_xx + u_yy + 1"},
        "conditions": {"wall": {"kind": "dirichlet", "on": "boundary", "value": 0}},
        "sampling": {"points": {"eq": 64, "wall": 16}},
        "network": {"hidden": [4]},
        "training": {"adam": {"steps": 1}},
    }
    return base | fields


def refused(tmp_path, data: dict, field: str, *fragments: str) -> str:
    path = write_spec(tmp_path, data)
    err = spec_error(path)
    text = str(err)
    assert err.file == str(path) and err.line is not None and err.field == field, text
    assert "\n" not in text and all(f in text for f in fragments), text
    return text


def test_condition_on_a_part_the_domain_lacks(tmp_path):
    data = spec(conditions={"wall": {"kind": "dirichlet", "on": "left", "value": 0}})
    refused(tmp_path, data, "conditions.wall.on", "no boundary part 'left'", "edge1", "edge6", "boundary")


def test_self_intersecting_polygon(tmp_path):
    refused(tmp_path, spec(geometry={"polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}), "geometry.polygon", "cross")


def test_polygon_that_is_a_line_not_an_area(tmp_path):
    refused(tmp_path, spec(geometry={"polygon": [[0, 0], [1, 1], [2, 2]]}), "geometry.polygon")


def test_empty_csg_result(tmp_path):
    apart = {"intersection": [{"disk": {"center": [0, 0], "radius": 1}}, {"disk": {"center": [5, 0], "radius": 1}}]}
    refused(tmp_path, spec(geometry=apart), "geometry.intersection", "empty")


def test_operands_of_different_dimension(tmp_path):
    mixed = {"union": [{"rectangle": [[0, 1], [0, 1]]}, {"interval": [0, 1]}]}
    refused(tmp_path, spec(geometry=mixed), "geometry.union[1]", "dimension")


def test_a_region_part_that_keeps_too_few_candidates(tmp_path):
    frame = {"difference": [{"rectangle": [[0, 1], [0, 1]]}, {"rectangle": [[0.0002, 0.9998], [0.0002, 0.9998]]}]}
    refused(tmp_path, spec(geometry=frame), "geometry", "keeps", "of its candidate points")


def test_periodic_parts_that_are_not_translates(tmp_path):
    data = spec(
        geometry={"rectangle": [[0, 1], [0, 1]]}, conditions={"wall": {"kind": "periodic", "on": ["left", "top"]}}
    )
    refused(tmp_path, data, "conditions.wall.on", "not translates")


def test_normal_derivative_at_the_start_time(tmp_path):
    data = spec(
        variables={"space": ["x", "y"], "time": "t"},
        time_domain=[0, 1],
        conditions={"wall": {"kind": "neumann", "on": "initial", "value": 0}},
    )
    refused(tmp_path, data, "conditions.wall.on", "kind: initial with derivative")


def test_initial_derivative_must_be_in_time(tmp_path):
    data = spec(
        variables={"space": ["x", "y"], "time": "t"},
        time_domain=[0, 1],
        conditions={"wall": {"kind": "initial", "derivative": "u_x", "value": 0}},
    )
    refused(tmp_path, data, "conditions.wall.derivative", "not a time derivative")


def observations(tmp_path, name: str, text: str) -> dict:
    (tmp_path / name).write_text(text)
    return spec(
        conditions={
            "wall": {"kind": "dirichlet", "on": "boundary", "value": 0},
            "seen": {"kind": "data", "file": name, "columns": {"x": "X", "y": "Y", "u": "U"}},
        }
    )


def test_data_file_missing_a_column(tmp_path):
    data = observations(tmp_path, "obs.csv", "X,Y\n0.1,-0.5\n")
    refused(tmp_path, data, "conditions.seen.file", "obs.csv", "lacks column(s) U")


def test_data_file_with_nan(tmp_path):
    data = observations(tmp_path, "obs.csv", "X,Y,U\n0.1,-0.5,1\n-0.2,0.3,nan\n")
    refused(tmp_path, data, "conditions.seen.file", "obs.csv", "U")


def test_data_arrays_of_different_lengths(tmp_path):
    np.savez(tmp_path / "obs.npz", X=np.zeros(3) - 0.5, Y=np.zeros(3) - 0.5, U=np.zeros(4))
    data = spec(
        conditions={
            "wall": {"kind": "dirichlet", "on": "boundary", "value": 0},
            "seen": {"kind": "data", "file": "obs.npz", "columns": {"x": "X", "y": "Y", "u": "U"}},
        }
    )
    refused(tmp_path, data, "conditions.seen.file", "obs.npz")


def test_observations_outside_the_domain(tmp_path):
    data = observations(tmp_path, "obs.csv", "X,Y,U\n-0.5,-0.5,1\n0.5,0.5,1\n")  # (0.5, 0.5) is in the notch
    refused(tmp_path, data, "conditions.seen.file", "1 observation(s) lie outside the domain", "row 2")


def test_data_term_with_a_point_count(tmp_path):
    data = observations(tmp_path, "obs.csv", "X,Y,U\n-0.5,-0.5,1\n")
    data["sampling"]["points"]["seen"] = 10
    refused(tmp_path, data, "sampling.points.seen", "data term")


def test_parameter_used_nowhere(tmp_path):
    refused(tmp_path, spec(parameters={"k": {"initial": 1.0}}), "parameters.k", "used in no expression")


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ({"initial": -1.0, "positive": True}, "initial > 0"),
        ({"initial": 2.0, "bounds": [0, 1]}, "strictly inside"),
        ({"initial": 0.5, "bounds": [0, 1], "positive": True}, "not both"),
    ],
)
def test_parameter_constraints(tmp_path, entry, fragment):
    refused(tmp_path, spec(parameters={"k": entry}, pde={"eq": "u_xx + u_yy + k"}), "parameters.k", fragment)


def test_reference_may_not_depend_on_a_parameter(tmp_path):
    data = spec(parameters={"k": {"initial": 1.0}}, pde={"eq": "u_xx + u_yy + k"}, reference={"exact": "k*x"})
    refused(tmp_path, data, "parameters.k", "reference")


def test_cole_hopf_needs_an_interval(tmp_path):
    data = spec(
        variables={"space": ["x"], "time": "t"},
        time_domain=[0, 1],
        pde={"eq": "u_t + u*u_x"},
        geometry={"union": [{"interval": [-1, 0]}, {"interval": [0.5, 1]}]},
        conditions={"wall": {"kind": "initial", "value": "-sin(pi*x)"}},
        reference={"cole_hopf": {"viscosity": 0.01}},
    )
    refused(tmp_path, data, "reference.cole_hopf", "needs an interval")
