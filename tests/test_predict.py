"""A trained model at new points (results/trained.py, results/quantities.py): in one process
through the Python API, and from a real run folder through `pinnrun predict` and `pinnrun export`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import PROBLEMS
from pinnrun.errors import PinnrunError
from test_cli_errors import one_error, pinnrun

QUICK = ["training.adam.steps=200", "training.lbfgs=null", "training.log_every=50"]
BURGERS_SMALL = [
    "network.hidden=[16,16]",
    "training.adam.steps=300",
    "training.lbfgs.steps=50",
    "sampling.points.burgers=512",
    "sampling.points.initial=64",
    "sampling.points.walls=64",
    "reference.grid.x=65",
    "reference.grid.t=21",
]
# Loading an export with pinnrun unimportable: it must need TensorFlow only.
LOAD_EXPORT = """
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pinnrun":
            raise ImportError("pinnrun is not available here")
sys.meta_path.insert(0, Blocked())
import json, numpy as np, tensorflow as tf
served = tf.saved_model.load(sys.argv[1])
points = tf.constant(np.load(sys.argv[2]), served.predict.input_signature[0].dtype)
out = {"inputs": [s.decode() for s in served.inputs.numpy()], "names": [s.decode() for s in served.names.numpy()],
       "predict": served.predict(points).numpy().tolist(),
       "serving": {k: v.numpy().tolist() for k, v in served.signatures["serving_default"](points=points).items()}}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def poisson():
    from pinnrun.api import train

    return train(PROBLEMS / "poisson1d.yaml", QUICK)


@pytest.mark.slow
def test_derivatives_match_finite_differences_and_the_residual_expression(poisson):
    x = np.linspace(-0.9, 0.9, 37)
    p = poisson.predict({"x": x}, ["u", "u_x", "u_xx", "u_xx + pi**2*sin(pi*x)"])
    h = 1e-4
    u = lambda at: poisson.predict({"x": at}, ["u"])["u"]  # noqa: E731
    assert np.allclose((u(x + h) - u(x - h)) / (2 * h), p["u_x"], atol=1e-6)
    assert np.allclose((u(x + h) - 2 * u(x) + u(x - h)) / h**2, p["u_xx"], atol=1e-3)
    assert np.allclose(p["u_xx + pi**2*sin(pi*x)"], p["u_xx"] + np.pi**2 * np.sin(np.pi * x))
    assert not np.allclose(p["u_x"], 0)


@pytest.mark.slow
def test_predict_keeps_the_points_shape_and_takes_rows(poisson):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    by_name = poisson.predict({"x": x})
    assert list(by_name) == ["u"] and by_name["u"].shape == (3, 4)
    rows = poisson.predict(x.reshape(-1, 1))
    assert rows["u"].shape == (12,) and np.array_equal(rows["u"], by_name["u"].ravel())
    assert poisson.predict(np.zeros((0, 1)))["u"].shape == (0,)


@pytest.mark.slow
def test_training_in_process_keeps_records_and_reaches_the_reference(poisson):
    assert poisson.step == 200 and [r["step"] for r in poisson.records][-1] == 200
    error, per_output = poisson.l2_errors()
    assert error == per_output["u"] and error < 0.2


@pytest.mark.slow
@pytest.mark.parametrize(
    "points, names, message",
    [
        ({"y": [0.0]}, None, "points need exactly the inputs x; missing x; unknown y"),
        ({"x": [0.0, np.nan]}, None, "points must be finite numbers"),
        (np.zeros((3, 2)), None, "points as an array must be (n, 1)"),
        ({"x": [0.0]}, ["v"], "cannot evaluate 'v'"),
        ({"x": [0.0]}, ["u_t"], "cannot evaluate 'u_t'"),
        ({"x": [0.0]}, ["__import__('os')"], "cannot evaluate"),
        ({"x": [0.0]}, [], "nothing to predict"),
    ],
)
def test_bad_points_and_names_are_one_line(poisson, points, names, message):
    with pytest.raises(PinnrunError) as err:
        poisson.predict(points, names)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "grid, message",
    [
        ("x=0:1:11", "no axis for t"),
        ("x=0:1:11,t=0:1", "is not NAME=START:STOP:COUNT"),
        ("x=0:1:11,t=0:b:3", "'b' in 't=0:b:3' is not a number"),
        ("x=0:1:11,t=0:inf:3", "is not finite"),
        ("x=0:1:11,t=0:1:3,y=0:1:2", "'y' is not an input"),
        ("x=0:1:11,x=0:1:3", "'x' is given twice"),
        ("x=0:1:0,t=0:1:3", "x needs 1 to"),
        ("x=0:1:100000,t=0:1:100000", "10,000,000,000 points; at most 20,000,000"),
    ],
)
def test_grid_refusals(grid, message):
    from pinnrun.results.trained import parse_grid

    with pytest.raises(PinnrunError, match=None) as err:
        parse_grid(grid, ("x", "t"))
    assert message in str(err.value)


def test_grid_axes_include_both_ends():
    from pinnrun.results.trained import parse_grid

    axes = parse_grid(" t=0:1:3 , x=-1:1:5", ("x", "t"))
    assert (
        list(axes) == ["x", "t"] and axes["x"].tolist() == [-1, -0.5, 0, 0.5, 1] and axes["t"].tolist() == [0, 0.5, 1]
    )


@pytest.fixture(scope="module")
def burgers_run(tmp_path_factory) -> Path:
    """A real (small) `pinnrun train` run folder of soft-constraint Burgers, float32."""
    out = tmp_path_factory.mktemp("runs") / "burgers"
    proc = pinnrun(
        "train",
        str(PROBLEMS / "burgers_soft.yaml"),
        "--np",
        "1",
        "--out",
        str(out),
        *[a for s in BURGERS_SMALL for a in ("--set", s)],
        cwd=out.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.mark.slow
def test_predict_on_the_reference_grid_is_what_training_saved(burgers_run, tmp_path):
    proc = pinnrun("predict", str(burgers_run), "--grid", "x=-1:1:65,t=0:1:21", "--out", "grid.npz", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1,365 points, u (step 350 of" in proc.stdout and proc.stderr == ""
    with np.load(tmp_path / "grid.npz") as got, np.load(burgers_run / "predictions.npz") as saved:
        assert np.array_equal(got["x"], saved["x"]) and np.array_equal(got["t"], saved["t"])
        assert got["u"].shape == (65, 21) and np.allclose(got["u"], saved["u"], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_predict_from_a_points_file_and_never_over_an_existing_file(burgers_run, tmp_path):
    (tmp_path / "points.csv").write_text("t,x,label\n0.5,0.25,a\n0.0,-0.5,b\n")
    proc = pinnrun(
        "predict",
        str(burgers_run),
        "--points",
        "points.csv",
        "--outputs",
        "u,u_x,u*u_x",
        "--out",
        "values.csv",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    rows = (tmp_path / "values.csv").read_text().splitlines()
    assert rows[0] == "x,t,u,u_x,u*u_x" and len(rows) == 3
    values = np.array([[float(v) for v in row.split(",")] for row in rows[1:]])
    assert values[:, :2].tolist() == [[0.25, 0.5], [-0.5, 0.0]]
    assert np.allclose(values[:, 4], values[:, 2] * values[:, 3], rtol=1e-5)
    from pinnrun.results.trained import load_run

    expected = load_run(burgers_run).predict({"x": values[:, 0], "t": values[:, 1]}, ["u", "u_x"])
    assert np.allclose(values[:, 2], expected["u"], rtol=0, atol=1e-7)
    assert np.allclose(values[:, 3], expected["u_x"], rtol=0, atol=1e-6)
    before = (tmp_path / "values.csv").read_bytes()
    line = one_error(
        pinnrun("predict", str(burgers_run), "--points", "points.csv", "--out", "values.csv", cwd=tmp_path)
    )
    assert line == "error: --out values.csv: exists; choose another file (nothing is overwritten)"
    assert (tmp_path / "values.csv").read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["--grid", "x=0:1:3"], "error: --grid: no axis for t (every input needs one: x, t)"),
        (["--grid", "x=0:1:3,t=0:1:3", "--outputs", "u,v"], "error: cannot evaluate 'v'"),
        (["--grid", "x=0:1:3,t=0:1:3", "--points", "p.csv"], "error: give the points with exactly one of"),
        (["--points", "missing.csv"], "error: missing.csv: "),
        (["--grid", "x=0:1:3,t=0:1:3", "--out", "out.txt"], "error: --out out.txt: write .npz or .csv"),
    ],
)
def test_predict_refusals_are_one_line(burgers_run, tmp_path, args, message):
    out = [] if "--out" in args else ["--out", "out.npz"]
    line = one_error(pinnrun("predict", str(burgers_run), *args, *out, cwd=tmp_path))
    assert line.startswith(message)
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.slow
def test_predict_refuses_a_folder_that_is_not_a_run_or_has_no_checkpoint(burgers_run, tmp_path):
    assert (
        one_error(pinnrun("predict", str(tmp_path), "--grid", "x=0:1:2", "--out", "o.npz", cwd=tmp_path))
        == f"error: {tmp_path}: not a run folder (no spec.yaml)"
    )
    (tmp_path / "spec.yaml").write_bytes((burgers_run / "spec.yaml").read_bytes())
    line = one_error(pinnrun("predict", str(tmp_path), "--grid", "x=0:1:2,t=0:1:2", "--out", "o.npz", cwd=tmp_path))
    assert line.endswith("no checkpoint: the run stopped before its first one was written")


@pytest.mark.slow
def test_export_serves_what_predict_gives_without_pinnrun(burgers_run, tmp_path):
    proc = pinnrun("export", str(burgers_run), "--outputs", "u,u_x", "--out", "model", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    about = json.loads((tmp_path / "model" / "pinnrun-export.json").read_text())
    assert about["inputs"] == ["x", "t"] and about["names"] == ["u", "u_x"] and about["step"] == 350
    points = np.array([[0.25, 0.5], [-0.5, 0.0], [0.9, 1.0]])
    np.save(tmp_path / "points.npy", points)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_EXPORT, str(tmp_path / "model"), str(tmp_path / "points.npy")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr
    served = json.loads(loaded.stdout)
    from pinnrun.results.trained import load_run

    expected = load_run(burgers_run).predict(points, ["u", "u_x"])
    assert served["inputs"] == ["x", "t"] and served["names"] == ["u", "u_x"]
    assert np.allclose(np.array(served["predict"]), np.stack([expected["u"], expected["u_x"]], axis=1), atol=1e-6)
    assert np.allclose(served["serving"]["u_x"], expected["u_x"], atol=1e-6)
    line = one_error(pinnrun("export", str(burgers_run), "--out", "model", cwd=tmp_path))
    assert line == "error: --out model: exists and is not empty; choose another folder"


def test_outputs_split_at_top_level_commas_only():
    from pinnrun.results.predict import parse_names

    assert parse_names("u, u_x,atan2(u_x, u) ,u*u_x") == ["u", "u_x", "atan2(u_x, u)", "u*u_x"]
    for bad, says in [("u,,u_x", "has an empty name"), ("u,u", "names one quantity twice")]:
        with pytest.raises(PinnrunError, match=says):
            parse_names(bad)
