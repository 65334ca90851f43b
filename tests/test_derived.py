"""Derived quantities (`derived: {u: psi_y}`): validated as one located line, observed by data
conditions through their derivatives, predicted and compared with the reference, computed
from a reference's outputs where they use none of its derivatives (|h| = sqrt(u**2 + v**2))."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from helpers import ROOT, load
from pinnrun.errors import SpecError
from pinnrun.problem.reference import build_reference
from pinnrun.training.comm import LocalComm
from pinnrun.training.session import build_session

# psi = sin(pi x) sin(pi y); the data observe u = psi_y and v = -c psi_x (c = 1 in truth).
# Line numbers: 6 c, 7 derived, 8 u, 9 v, 15 obs, 26 exact.
STREAM = """\
name: stream
variables:
  space: [x, y]
outputs: [psi]
parameters:
  c: {initial: 1.5}
derived:
  u: psi_y
  v: -c*psi_x
geometry:
  rectangle: [[0, 1], [0, 1]]
pde:
  lap: psi_xx + psi_yy + 2*pi**2*sin(pi*x)*sin(pi*y)
conditions:
  obs: {kind: data, file: obs.npz, columns: {x: x, y: y, v: v, u: u}}
sampling:
  points: {lap: 64}
network:
  hidden: [16, 16]
  dtype: float64
training:
  adam: {steps: 10, learning_rate: 0.005}
  lbfgs: {steps: 10}
  log_every: 5
reference:
  exact: {psi: sin(pi*x)*sin(pi*y), u: pi*sin(pi*x)*cos(pi*y)}
  grid: {x: 21, y: 17}
"""


def observations(folder: Path, n: int = 30) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    data = {
        "x": x,
        "y": y,
        "u": np.pi * np.sin(np.pi * x) * np.cos(np.pi * y),
        "v": -np.pi * np.cos(np.pi * x) * np.sin(np.pi * y),
    }
    np.savez(folder / "obs.npz", **data)
    return data


def stream_spec(folder: Path, old: str = "", new: str = "") -> Path:
    assert old in STREAM
    observations(folder)
    path = folder / "stream.yaml"
    path.write_text(STREAM.replace(old, new, 1))
    return path


def slopes(net, points: np.ndarray) -> np.ndarray:
    """(psi_x, psi_y) at points: one tape on the whole input, not pinnrun's per-column fields."""
    x = tf.constant(points)
    with tf.GradientTape() as tape:
        tape.watch(x)
        psi = net(x)[:, 0]
    return tape.gradient(psi, x).numpy()


# -- validation ---------------------------------------------------------------------------


def test_a_spec_with_derived_quantities_is_accepted(tmp_path):
    loaded = load(stream_spec(tmp_path))
    u, v = loaded.expressions[("derived", "u")], loaded.expressions[("derived", "v")]
    assert {d.name for d in u.derivatives} == {"psi_y"} and v.constants == {"c"}


@pytest.mark.parametrize(
    "old, new, line, field, message",
    [
        ("  u: psi_y", "  x: psi_y", 7, "derived", "name 'x' is used twice (also in variables)"),
        (
            "  v: -c*psi_x",
            "  v: -c*2*x",
            9,
            "derived.v",
            "a derived quantity must involve an output or its derivatives",
        ),
        (
            "  v: -c*psi_x",
            "  v: -c*u",
            9,
            "derived.v",
            "a derived quantity cannot use another one ('u'): write it in outputs and their derivatives",
        ),
        (
            "  v: -c*psi_x",
            "  v: -c*u_x",
            9,
            "derived.v",
            "u_x: cannot differentiate 'u', only outputs can be differentiated (outputs: psi)",
        ),
        ("  v: -c*psi_x", "  v: -c*phi_x", 9, "derived.v", "unknown name 'phi_x'"),
        ("  v: -c*psi_x", "  v: c*log(psi_x - 1)", 9, "derived.v", "not finite at"),
        (
            "  v: -c*psi_x",
            "  v: -c*psi_x\n  w: log(psi)",
            10,
            "derived.w",  # its reference, from the exact psi
            "not finite at x=0, y=0 with the reference's values psi=0 (-inf)",
        ),
        (
            "  exact: {psi",
            "  exact: {w: x, psi",
            26,
            "reference.exact.w",
            "unknown output or derived quantity (outputs: psi; derived: u, v)",
        ),
        (
            "v: v, u: u}",
            "v: v, w: u}",
            15,
            "conditions.obs.columns.w",
            "not an input, output or derived quantity (x, y, psi, u, v)",
        ),
        (
            ", v: v, u: u}",
            "}",
            15,
            "conditions.obs.columns",
            "give the column of at least one observed output or derived quantity (psi, u, v)",
        ),
        ("v: v, u: u}", "u: u}", 6, "parameters.c", "used only in derived quantities that no data condition observes"),
    ],
)
def test_each_refusal_is_one_located_line(tmp_path, old, new, line, field, message):
    path = stream_spec(tmp_path, old, new)
    with pytest.raises(SpecError) as info:
        load(path)
    err = info.value
    assert "\n" not in str(err)
    assert (err.line, err.field) == (line, field) and err.message.startswith(message), str(err)


# -- training: the data term observes derivatives -------------------------------------------


@pytest.mark.slow
def test_data_observes_derived_derivatives_and_the_solution_predicts_them(tmp_path, monkeypatch):
    from pinnrun.results import quantities, solution as solution_module

    path = stream_spec(tmp_path)
    session = build_session(path, LocalComm())
    term = next(t for t in session.problem.terms if t.kind == "data")
    assert term.observed == ["u", "v"]  # the spec's order of derived names, not the file's columns'
    assert {d.name for d in term.derivatives} == {"psi_x", "psi_y"}
    losses = []
    log = session.trainer.run(lambda record: losses.append(record["losses"]["obs"]))
    assert log.status == "finished" and losses[-1] < losses[0]

    obs = observations(tmp_path)
    points = np.stack([obs["x"], obs["y"]], axis=1)
    c = session.parameters.numpy()["c"]
    assert c != pytest.approx(1.5)  # trained
    g = slopes(session.net, points)
    expected = np.mean((np.stack([g[:, 1], -c * g[:, 0]], axis=1) - np.stack([obs["u"], obs["v"]], axis=1)) ** 2)
    got = session.losses().numpy()[session.losses.names.index("obs")]
    assert got == pytest.approx(expected, rel=1e-12)

    # predictions at the reference's points, in chunks (357 grid points in 4 here)
    monkeypatch.setattr(quantities, "CHUNK", 100)
    solution = solution_module.Solution(
        session.problem, session.spec.reference, tmp_path, session.net, session.parameters
    )
    evaluate, calls = solution.grid and solution._quantities.evaluate, []
    solution._quantities.evaluate = lambda x: calls.append(len(x)) or evaluate(x)
    combined, per_name = solution.save(tmp_path / "predictions.npz")
    assert calls == [100, 100, 100, 57]
    with np.load(tmp_path / "predictions.npz") as saved:
        grid = np.stack([m.ravel() for m in np.meshgrid(saved["x"], saved["y"], indexing="ij")], axis=1)
        g = slopes(session.net, grid)
        np.testing.assert_allclose(saved["u"].ravel(), g[:, 1], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(saved["v"].ravel(), -c * g[:, 0], rtol=1e-12, atol=1e-12)
        assert "v_reference" not in saved.files and set(per_name) == {"psi", "u"}
        u_ref = np.pi * np.sin(np.pi * grid[:, 0]) * np.cos(np.pi * grid[:, 1])
        np.testing.assert_allclose(saved["u_reference"].ravel(), u_ref, atol=1e-14)
        assert per_name["u"] == pytest.approx(np.linalg.norm(g[:, 1] - u_ref) / np.linalg.norm(u_ref), rel=1e-12)


@pytest.mark.slow
def test_a_run_reports_derived_quantities(tmp_path):
    """pinnrun train: predictions.npz, summary.json and metrics.jsonl carry u, and inspect plots it."""
    path, out = stream_spec(tmp_path), tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "pinnrun.cli", "train", str(path), "--np", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    with np.load(out / "predictions.npz") as saved:
        assert {"psi", "u", "v", "psi_reference", "u_reference"} <= set(saved.files)
        assert "v_reference" not in saved.files
        errors = {
            k: np.linalg.norm(saved[k] - saved[f"{k}_reference"]) / np.linalg.norm(saved[f"{k}_reference"])
            for k in ("psi", "u")
        }
        both = np.concatenate([(saved[k] - saved[f"{k}_reference"]).ravel() for k in ("psi", "u")])
        combined = np.linalg.norm(both) / np.linalg.norm(
            np.concatenate([saved["psi_reference"].ravel(), saved["u_reference"].ravel()])
        )
    assert summary["l2_relative_errors"] == pytest.approx(errors, rel=1e-10)
    assert summary["l2_relative_error"] == pytest.approx(combined, rel=1e-10)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert set(records[-1]["l2_relative_errors"]) == {"psi", "u"}

    from click.testing import CliRunner
    from pinnrun.cli import main

    result = CliRunner().invoke(main, ["inspect", str(out), "--plot", "--json"])
    assert result.exit_code == 0, result.output
    plots = {Path(p).name for p in json.loads(result.stdout)["plots"]}
    assert {"solution_psi.png", "solution_u.png", "solution_v.png"} <= plots


# -- a reference computed from the outputs it gives -------------------------------------------

MODULUS = """\
name: modulus
variables: {space: [x, y]}
outputs: [a, b]
derived: {h: sqrt(a**2 + b**2), ax: a_x}
geometry: {rectangle: [[0, 1], [0, 1]]}
pde: {one: a - cos(x)*y, two: b - sin(x)*y}
sampling: {points: {one: 32, two: 32}}
network: {hidden: [16, 16], dtype: float64}
training: {adam: {steps: 10}}
reference: {file: ref.npz}
"""


def modulus_spec(folder: Path, text: str = MODULUS, **extra) -> Path:
    xs, ys = np.linspace(0, 1, 11), np.linspace(0, 1, 7)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    np.savez(folder / "ref.npz", x=xs, y=ys, a=np.cos(X) * (Y + 1), b=np.sin(X) * (Y + 1), **extra)
    path = folder / "modulus.yaml"
    path.write_text(text)
    return path


def test_a_derived_reference_comes_from_the_reference_outputs(tmp_path):
    from pinnrun.results.solution import Solution

    path = modulus_spec(tmp_path)
    loaded = load(path)
    session = build_session(loaded, LocalComm())
    ref = build_reference(session.problem, loaded.spec.reference, tmp_path)
    assert list(ref.values) == ["a", "b", "h"]  # ax uses a derivative: predicted, never compared
    np.testing.assert_array_equal(ref.values["h"], np.sqrt(ref.values["a"] ** 2 + ref.values["b"] ** 2))

    combined, per_name = Solution(session.problem, loaded.spec.reference, tmp_path, session.net).save(
        tmp_path / "predictions.npz"
    )
    with np.load(tmp_path / "predictions.npz") as saved:
        np.testing.assert_allclose(saved["h"], np.hypot(saved["a"], saved["b"]), rtol=1e-14)
        assert "ax" in saved.files and "ax_reference" not in saved.files
        h_error = np.linalg.norm(saved["h"] - saved["h_reference"]) / np.linalg.norm(saved["h_reference"])
        every = np.concatenate([(saved[k] - saved[f"{k}_reference"]).ravel() for k in "abh"])
        norm = np.linalg.norm(np.concatenate([saved[f"{k}_reference"].ravel() for k in "abh"]))
    assert per_name["h"] == pytest.approx(h_error, rel=1e-12) and set(per_name) == {"a", "b", "h"}
    assert combined == pytest.approx(np.linalg.norm(every) / norm, rel=1e-12)


def test_a_file_that_holds_the_derived_quantity_is_used_as_it_is(tmp_path):
    from pinnrun.problem.build import build_problem

    X, Y = np.meshgrid(np.linspace(0, 1, 11), np.linspace(0, 1, 7), indexing="ij")
    listed = MODULUS.replace("{file: ref.npz}", "{file: ref.npz, columns: {h: H}}")
    for text, arrays, expected in [
        (MODULUS, {"H": X + Y}, np.hypot(np.cos(X) * (Y + 1), np.sin(X) * (Y + 1))),
        (MODULUS, {"h": X + Y}, X + Y),  # under its own name
        (listed, {"H": X + Y}, X + Y),
    ]:  # under the name columns gives
        loaded = load(modulus_spec(tmp_path, text, **arrays))
        ref = build_reference(build_problem(loaded), loaded.spec.reference, tmp_path)
        np.testing.assert_allclose(ref.values["h"], expected, rtol=1e-15)


def test_a_derived_reference_is_refused_where_it_is_not_finite(tmp_path):
    path = modulus_spec(tmp_path, MODULUS.replace("ax: a_x", "r: b/(a - 1)"))
    with pytest.raises(SpecError) as info:
        load(path)
    assert (info.value.field, info.value.line) == ("derived.r", 4)
    assert info.value.message.startswith("not finite at x=0, y=0 of the reference file ref.npz")
    listed = modulus_spec(tmp_path, MODULUS.replace("{file: ref.npz}", "{file: ref.npz, columns: {h: H}}"))
    with pytest.raises(SpecError, match=r"reference.file: ref.npz: lacks array\(s\) H"):
        load(listed)


# -- scripts/make_observations.py -------------------------------------------------------------


def test_make_observations_writes_derived_names_of_the_exact_mapping(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("make_observations", ROOT / "scripts" / "make_observations.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    path = stream_spec(tmp_path)
    out = tmp_path / "made.npz"
    assert script.main(["--spec", str(path), "--points", "20", "--seed", "2", "--output", "u", "--out", str(out)]) == 0
    with np.load(out) as made:
        assert made.files == ["x", "y", "u"]
        np.testing.assert_allclose(made["u"], np.pi * np.sin(np.pi * made["x"]) * np.cos(np.pi * made["y"]))
    assert script.main(["--spec", str(path), "--points", "5", "--output", "v", "--out", str(out)]) == 2
    assert "the spec's reference.exact gives psi, u" in capsys.readouterr().err
