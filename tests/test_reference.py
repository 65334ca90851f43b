"""References: exact expressions, gridded and scattered data files (.npz, .csv, .mat), Cole-Hopf;
errors counted inside non-box domains, per output; and the located checks made before a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pinnrun.errors import PinnrunError
from pinnrun.problem.cole_hopf import burgers_cole_hopf
from pinnrun.problem import reference, reference_check
from pinnrun.problem.reference import relative_l2, relative_l2_per_output
from pinnrun.spec.expressions import parse
from pinnrun.spec.schema import Reference


def parsed_as_validation_does(problem, ref: Reference) -> None:
    """The reference's expressions in problem.expressions, by spec path, as validation puts
    them there (a test that set one already keeps its own)."""
    names = dict(variables=problem.inputs, constants=list(problem.constants))
    exact = ref.exact if isinstance(ref.exact, dict) else {None: ref.exact} if ref.exact is not None else {}
    sources = {
        ("reference", "exact") if out is None else ("reference", "exact", out): (source, names)
        for out, source in exact.items()
    }
    constants_only = {"constants": names["constants"]}  # a viscosity is a number
    sources |= {
        ("reference", "cole_hopf", key): (source, names if key == "initial" else constants_only)
        for key, source in (ref.cole_hopf or {}).items()
    }
    for path, (source, allowed) in sources.items():
        if path not in problem.expressions:
            problem.expressions[path] = parse(source, **allowed)


def build_reference(problem, ref: Reference, spec_dir: Path):
    parsed_as_validation_does(problem, ref)
    return reference.build_reference(problem, ref, spec_dir)


def check_reference(problem, ref: Reference, at, spec_dir: Path, probes) -> None:
    parsed_as_validation_does(problem, ref)
    return reference_check.check_reference(problem, ref, at, spec_dir, probes)


class Box:
    """A box domain: contains every point of its bounding box."""

    def __init__(self, box):
        self.box = np.asarray(box, dtype=float)
        self.dim = len(box)

    def bounding_box(self):
        return self.box

    def contains(self, x):
        return np.all((x >= self.box[:, 0]) & (x <= self.box[:, 1]), axis=1)


class LShape(Box):
    """[0, 1]^2 without its upper-right quarter (x > 0.5 and y > 0.5)."""

    def __init__(self):
        super().__init__([(0, 1), (0, 1)])

    def contains(self, x):
        return super().contains(x) & ~((x[:, 0] > 0.5) & (x[:, 1] > 0.5))


@dataclass
class FakeProblem:
    """The fields reference.py reads from a Problem."""

    space: tuple
    time: str | None
    outputs: tuple
    domain: Box
    constants: dict = field(default_factory=dict)
    terms: tuple = ()
    expressions: dict = field(default_factory=dict)
    derived: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)

    @property
    def inputs(self):
        return self.space + ((self.time,) if self.time else ())

    @property
    def input_box(self):
        return tuple(map(tuple, self.domain.bounding_box()))

    @property
    def box(self):
        return self.input_box[: len(self.space)]

    @property
    def time_domain(self):
        return self.input_box[-1] if self.time else None


def plane(domain=None, outputs=("u", "v")) -> FakeProblem:
    return FakeProblem(("x", "y"), None, outputs, domain or Box([(0, 1), (0, 1)]))


U = lambda x, y: np.sin(np.pi * x) * y  # noqa: E731
V = lambda x, y: x + 2 * y  # noqa: E731


class Located(Exception):
    def __init__(self, path, message):
        super().__init__(f"{'.'.join(map(str, path))}: {message}")
        self.path, self.message = path, message


class At:
    """Stands for LoadedSpec.error: an exception naming the spec path."""

    def error(self, path, message):
        return Located(path, message)


class NoProbes:
    """check_reference hands exact and initial expressions to validation's probes; counted here."""

    def __init__(self):
        self.exact, self.initial = [], []

    def check_exact(self, here):
        self.exact.append(here)

    def check_initial(self, here):
        self.initial.append(here)


def located(problem, ref: Reference, tmp_path: Path) -> Located:
    with pytest.raises(Located) as info:
        check_reference(problem, ref, At(), tmp_path, NoProbes())
    assert "\n" not in str(info.value)
    return info.value


# -- exact ------------------------------------------------------------------------------


def test_exact_on_a_grid_with_per_output_errors():
    ref = build_reference(
        plane(), Reference(exact={"u": "sin(pi*x)*y", "v": "x + 2*y"}, grid={"x": 11, "y": 21}), Path(".")
    )
    assert ref.shape == (11, 21) and not ref.scattered
    x, y = np.meshgrid(ref.axes["x"], ref.axes["y"], indexing="ij")
    np.testing.assert_allclose(ref.values["u"], U(x, y))
    pred = {"u": ref.values["u"] * 1.1, "v": ref.values["v"]}
    errors = relative_l2_per_output(pred, ref)
    assert errors["u"] == pytest.approx(0.1) and errors["v"] == 0
    combined = relative_l2(pred, ref)
    assert 0 < combined < 0.1  # u's error diluted by v's larger norm
    assert combined == pytest.approx(
        0.1
        * np.linalg.norm(ref.values["u"])
        / np.linalg.norm(np.concatenate([ref.values["u"].ravel(), ref.values["v"].ravel()]))
    )


def test_parsed_expressions_of_the_problem_are_used_when_present():
    problem = plane(outputs=("u",))
    problem.expressions[("reference", "exact")] = parse("3*x", variables=["x", "y"])
    ref = build_reference(problem, Reference(exact="this text is not parsed", grid={"x": 3, "y": 2}), Path("."))
    np.testing.assert_allclose(ref.values["u"][:, 0], [0, 1.5, 3])


def test_errors_count_only_points_inside_an_l_shape():
    problem = plane(LShape())
    ref = build_reference(
        problem, Reference(exact={"u": "sin(pi*x)*y", "v": "x + 2*y"}, grid={"x": 21, "y": 21}), Path(".")
    )
    x, y = np.meshgrid(ref.axes["x"], ref.axes["y"], indexing="ij")
    outside = (x > 0.5) & (y > 0.5)
    np.testing.assert_array_equal(ref.inside, ~outside)
    assert 0.2 < outside.mean() < 0.25
    # wrong only where the network was never trained: no error
    pred = {k: np.where(outside, 1e6, v) for k, v in ref.values.items()}
    assert relative_l2(pred, ref) == 0 and relative_l2_per_output(pred, ref) == {"u": 0, "v": 0}
    # wrong inside: counted, relative to the reference inside only
    pred = {"u": np.where(~outside, ref.values["u"] + 0.01, ref.values["u"]), "v": ref.values["v"]}
    inside_u = ref.values["u"][~outside]
    expected = 0.01 * np.sqrt(inside_u.size) / np.linalg.norm(inside_u)
    assert relative_l2_per_output(pred, ref)["u"] == pytest.approx(expected)


def test_an_expression_undefined_outside_the_domain_does_not_spoil_the_error():
    problem = plane(LShape(), outputs=("u",))
    # log(1.5 - x - y) is NaN where x + y > 1.5: only in the removed corner
    ref = build_reference(problem, Reference(exact="log(1.5 - x - y + 0.01)", grid={"x": 11, "y": 11}), Path("."))
    assert np.isnan(ref.values["u"]).any()
    assert np.isfinite(ref.values["u"][ref.inside]).all()
    assert relative_l2({"u": ref.values["u"]}, ref) == 0


# -- data files: gridded and scattered --------------------------------------------------


def grid_data(nx=5, ny=4):
    x, y = np.linspace(0, 1, nx), np.linspace(0, 1, ny)
    X, Y = np.meshgrid(x, y, indexing="ij")
    return x, y, U(X, Y), V(X, Y)


def scattered_data(n=30):
    rng = np.random.default_rng(0)
    x, y = rng.random(n), rng.random(n)
    return x, y, U(x, y), V(x, y)


@pytest.mark.parametrize("fmt", ["npz", "mat"])
def test_gridded_file(tmp_path, fmt):
    x, y, u, v = grid_data()
    arrays = {"X": x[:, None], "Y": y, "u": u, "vel": v}  # an axis as a column (MATLAB's habit) is fine
    path = tmp_path / f"ref.{fmt}"
    np.savez(path, **arrays) if fmt == "npz" else scipy.io.savemat(path, arrays)
    ref = build_reference(plane(), Reference(file=path.name, columns={"x": "X", "y": "Y", "v": "vel"}), tmp_path)
    assert not ref.scattered and ref.shape == (5, 4)
    np.testing.assert_array_equal(ref.axes["x"], x)
    np.testing.assert_allclose(ref.values["v"], v)
    np.testing.assert_array_equal(ref.points()[:4, 1], y)


@pytest.mark.parametrize("fmt", ["npz", "csv", "mat"])
def test_scattered_file(tmp_path, fmt):
    x, y, u, v = scattered_data()
    path = tmp_path / f"ref.{fmt}"
    if fmt == "csv":
        np.savetxt(path, np.stack([x, y, u, v], 1), delimiter=",", header="x,y,u,v", comments="")
    elif fmt == "npz":
        np.savez(path, x=x, y=y, u=u, v=v)
    else:
        scipy.io.savemat(path, {"x": x[:, None], "y": y[:, None], "u": u[:, None], "v": v[:, None]})
    ref = build_reference(plane(LShape()), Reference(file=path.name), tmp_path)
    assert ref.scattered and ref.shape == (30,)
    np.testing.assert_allclose(ref.points(), np.stack([x, y], 1))
    np.testing.assert_array_equal(ref.inside, ~((x > 0.5) & (y > 0.5)))
    pred = {"u": u + np.where(ref.inside, 0, 5.0), "v": v}
    assert relative_l2(pred, ref) == 0


def test_a_square_scattered_file_is_read_as_points_not_a_grid(tmp_path):
    # 2 inputs of n values and outputs of n values: n points (a grid would need n x n)
    x, y, u, v = scattered_data(4)
    np.savez(tmp_path / "ref.npz", x=x, y=y, u=u, v=v)
    assert build_reference(plane(), Reference(file="ref.npz"), tmp_path).scattered


def test_wrong_shapes_are_refused_with_both_layouts_named(tmp_path):
    x, y, u, v = grid_data()
    np.savez(tmp_path / "ref.npz", x=x, y=y, u=u[:, :3], v=v)
    with pytest.raises(PinnrunError) as info:
        build_reference(plane(), Reference(file="ref.npz"), tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'ref.npz'}: reference file: array 'u' has shape (5, 3), expected (5, 4) "
        "(one axis per input: x, y) or 5 values, one per point like every input array"
    )


# -- Cole-Hopf -------------------------------------------------------------------------


@dataclass
class InitialTerm:
    name: str
    kind: str = "initial"
    field: str = "u"  # u(x, t0) = value (a time derivative would be a Derivative)


def burgers(initial="-sin(pi*x)") -> FakeProblem:
    """Burgers on [-1, 1] x [0, 1] with u(x, 0) = `initial`, parsed as validation parses it."""
    from pinnrun.problem.regions import SpaceTime
    from pinnrun.problem.regions.interval import Interval

    value = parse(initial, variables=["x", "t"])
    return FakeProblem(
        ("x",),
        "t",
        ("u",),
        SpaceTime(Interval(-1, 1), 0, 1),
        {"nu": 0.01 / np.pi},
        (InitialTerm("ic"),),
        {("conditions", "ic", "value"): value},
    )


def test_cole_hopf_from_the_initial_condition():
    ref = build_reference(burgers(), Reference(cole_hopf={"viscosity": "nu"}, grid={"x": 33, "t": 5}), Path("."))
    x, t = ref.axes["x"], ref.axes["t"]
    expected = burgers_cole_hopf(lambda s: -np.sin(np.pi * s), 0.01 / np.pi, x, t, period=2.0)
    np.testing.assert_allclose(ref.values["u"], expected, atol=1e-12)


def test_cole_hopf_checks(tmp_path):
    ok = Reference(cole_hopf={"viscosity": "nu"})
    check_reference(burgers(), ok, At(), tmp_path, NoProbes())
    err = located(burgers(), Reference(cole_hopf={"viscosity": "-nu"}), tmp_path)
    assert (err.path, err.message) == (("reference", "cole_hopf", "viscosity"), "viscosity must be > 0")
    err = located(burgers(), Reference(cole_hopf={"initial": "1 + x"}), tmp_path)
    assert err.message == "give viscosity: <constant expression>"
    err = located(burgers(), Reference(cole_hopf={"viscosity": "nu", "initial": "1 + sin(pi*x)"}), tmp_path)
    assert err.path == ("reference", "cole_hopf", "initial")
    assert err.message.startswith("Cole-Hopf needs u(x, 0) with zero mean over the interval: u0 has mean 1")
    err = located(burgers("1 + sin(pi*x)"), ok, tmp_path)
    assert err.path == ("conditions", "ic", "value")
    no_initial = burgers()
    no_initial.terms = ()
    assert (
        located(no_initial, ok, tmp_path).message
        == "Cole-Hopf needs u(x, 0): an initial condition, or initial: <expression> here"
    )
    two_d = plane()
    two_d.constants["nu"] = 0.01
    assert located(two_d, ok, tmp_path).message == "Cole-Hopf needs one space variable, time and one output"


# -- checks before a run ---------------------------------------------------------------


def test_exact_expressions_go_to_the_probes(tmp_path):
    probes, problem = NoProbes(), plane()
    check_reference(problem, Reference(exact={"u": "x", "v": "y"}), At(), tmp_path, probes)
    assert probes.exact == [("reference", "exact", "u"), ("reference", "exact", "v")]
    assert [str(problem.expressions[here]) for here in probes.exact] == ["x", "y"]  # what the probes evaluate


@pytest.mark.parametrize(
    "ref,path,message",
    [
        (Reference(file="missing.npz"), ("reference", "file"), "file not found: {tmp}/missing.npz"),
        (Reference(file="ref.txt"), ("reference", "file"), "reference data must be a .npz, .csv or .mat file"),
        (
            Reference(file="ref.npz", columns={"w": "W"}),
            ("reference", "columns", "w"),
            "not an input or output (x, y, u, v)",
        ),
        (
            Reference(exact={"u": "x"}, columns={"u": "U"}),
            ("reference", "columns"),
            "columns name the arrays of a data file: give file: too",
        ),
        (
            Reference(file="ref.npz", columns={"v": "vel"}),
            ("reference", "file"),
            "ref.npz: lacks array(s) vel (has x, y, u, v)",
        ),
        (
            Reference(file="nan.csv"),
            ("reference", "file"),
            "nan.csv: column 'v' holds 1 non-finite value(s) (NaN or inf), "
            "the first at data row 2; every value must be a finite number",
        ),
        (
            Reference(file="corner.npz"),
            ("reference", "file"),
            "corner.npz: none of its 2 points lies inside the domain",
        ),
        (Reference(exact={"u": "x"}, grid={"z": 5}), ("reference", "grid", "z"), "not an input variable (x, y)"),
        (
            Reference(exact={"u": "x"}, grid={"x": 2, "y": 2}),
            ("reference", "grid"),
            "no point of the 2 x 2 grid lies inside the domain; give more points per axis",
        ),
    ],
    ids=[
        "missing",
        "suffix",
        "unknown-column",
        "columns-without-file",
        "missing-column",
        "nan",
        "all-outside",
        "grid-name",
        "grid-outside",
    ],
)
def test_located_refusals(tmp_path, ref, path, message):
    x, y, u, v = scattered_data(3)
    np.savez(tmp_path / "ref.npz", x=x, y=y, u=u, v=v)
    (tmp_path / "ref.txt").write_text("x,y,u,v\n0,0,0,0\n")
    (tmp_path / "nan.csv").write_text("x,y,u,v\n0,0,0,0\n0,0.1,0,nan\n")
    np.savez(tmp_path / "corner.npz", x=[0.9, 1.0], y=[0.9, 1.0], u=[0, 0], v=[0, 0])
    # a thin diagonal band, missing every corner of the unit square
    band = type("Band", (Box,), {"contains": lambda self, p: np.abs(p[:, 0] + p[:, 1] - 0.5) < 0.1})([(0, 1), (0, 1)])
    problem = plane(band if path == ("reference", "grid") and "no point" in message else LShape())
    err = located(problem, ref, tmp_path)
    assert (err.path, err.message) == (path, message.format(tmp=tmp_path))


def test_a_grid_too_large_for_rank_zero(tmp_path):
    problem = FakeProblem(("x", "y"), "t", ("u",), Box([(0, 1), (0, 1), (0, 1)]))
    err = located(problem, Reference(exact="x", grid={"x": 4096, "y": 4096}), tmp_path)
    assert (err.path, err.message) == (
        ("reference", "grid"),
        "4096 (x) x 4096 (y) x 101 (t) = 1,694,498,816 points; at most 16,777,216 (rank 0 evaluates the whole grid)",
    )


# -- the solution at the reference's points -----------------------------------------------


def test_solution_saves_scattered_predictions_with_the_domain_mask(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from pinnrun.results.solution import Solution

    class ExactNet:  # the exact u, and v off by 1% everywhere
        dtype = tf.float64

        def __call__(self, p):
            x, y = p[:, 0], p[:, 1]
            return tf.stack([tf.sin(np.pi * x) * y, 1.01 * (x + 2 * y)], axis=1)

    x, y, u, v = scattered_data()
    np.savez(tmp_path / "ref.npz", x=x, y=y, u=u, v=v)
    solution = Solution(plane(LShape()), Reference(file="ref.npz"), tmp_path, ExactNet())
    combined, per_output = solution.save(tmp_path / "predictions.npz")
    assert per_output["u"] < 1e-12 and per_output["v"] == pytest.approx(0.01)
    assert solution.errors() == (combined, per_output) and solution.error() == combined
    fields = solution.error_curve_fields()
    assert fields == {"l2_relative_error": combined, "l2_relative_errors": per_output}
    with np.load(tmp_path / "predictions.npz") as saved:
        assert bool(saved["is_scattered"]) and saved["u"].shape == (30,)
        np.testing.assert_array_equal(saved["inside_domain"], ~((x > 0.5) & (y > 0.5)))
        np.testing.assert_array_equal(saved["x"], x)
        np.testing.assert_allclose(saved["v_reference"], v)


def test_a_matlab_grid_stored_time_first_is_put_in_input_order(tmp_path):
    x, t = np.linspace(-1, 1, 7), np.linspace(0, 1, 4)
    X, T = np.meshgrid(x, t, indexing="ij")
    u = np.exp(-T) * np.sin(np.pi * X)  # (x, t)
    scipy.io.savemat(tmp_path / "ref.mat", {"x": x[None, :], "t": t[None, :], "usol": u.T})  # stored (t, x)
    problem = FakeProblem(("x",), "t", ("u",), Box([(-1, 1), (0, 1)]))
    ref = build_reference(problem, Reference(file="ref.mat", columns={"u": "usol"}), tmp_path)
    assert ref.shape == (7, 4) and not ref.scattered
    np.testing.assert_array_equal(ref.values["u"], u)
    # axes of equal length cannot be told apart: only input order is read as a grid
    square = np.arange(16.0).reshape(4, 4)
    scipy.io.savemat(tmp_path / "square.mat", {"x": t, "t": t, "u": square})
    assert np.array_equal(build_reference(problem, Reference(file="square.mat"), tmp_path).values["u"], square)


def test_shared_matlab_references_read_as_grids():
    shared = Path(__file__).resolve().parents[2] / "shared" / "reference"
    if not (shared / "deepxde_Allen_Cahn.mat").exists():
        pytest.skip("../shared/reference is absent")
    problem = FakeProblem(("x",), "t", ("u",), Box([(-1, 1), (0, 1)]))
    ref = build_reference(problem, Reference(file=str(shared / "deepxde_Allen_Cahn.mat")), Path("/"))
    assert ref.shape == (201, 101) and not ref.scattered  # u stored (t, x) = (101, 201)
    assert ref.axes["x"][0] == -1 and ref.axes["t"][-1] == 1
