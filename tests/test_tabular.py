"""Data files (.npz, .csv, .mat) read into named float64 arrays, and every refusal as one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pinnrun.problem.tabular import TableRefused, read_arrays, read_points

CAP = 1024 * 1024
XU = {"x": "x", "u": "u"}


def refused(path: Path, names: dict = XU, cap: int = CAP) -> str:
    with pytest.raises(TableRefused) as info:
        read_points(path, names, cap)
    message = str(info.value)
    assert "\n" not in message
    return message


def csv_file(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- each format --------------------------------------------------------------------------


def test_npz_keeps_shapes_and_maps_names(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.linspace(0, 1, 3), U=np.arange(6, dtype=np.int32).reshape(3, 2))
    arrays = read_arrays(tmp_path / "d.npz", {"x": "X", "u": "U"}, CAP)
    assert arrays["u"].shape == (3, 2) and arrays["u"].dtype == np.float64
    np.testing.assert_array_equal(arrays["x"], [0, 0.5, 1])


def test_csv_columns_by_header_name_in_any_order(tmp_path):
    path = csv_file(tmp_path, "t, u_meas ,X,label\n0.5,1e-3,0.25,a\n1,2,3,b\n")
    points = read_points(path, {"x": "X", "t": "t", "u": "u_meas"}, CAP)
    np.testing.assert_array_equal(points["x"], [0.25, 3])
    np.testing.assert_array_equal(points["t"], [0.5, 1])
    np.testing.assert_array_equal(points["u"], [1e-3, 2])
    assert all(p.dtype == np.float64 and p.ndim == 1 for p in points.values())


def test_csv_written_by_numpy_savetxt_reads_back(tmp_path):
    data = np.random.default_rng(0).random((50, 2))
    np.savetxt(tmp_path / "d.csv", data, delimiter=",", header="x,u")  # header line starts with '# '
    points = read_points(tmp_path / "d.csv", XU, CAP)
    np.testing.assert_array_equal(points["x"], data[:, 0])
    np.testing.assert_array_equal(points["u"], data[:, 1])


@pytest.mark.parametrize("fmt", ["5", "4"])
def test_mat_v5_and_v4(tmp_path, fmt):
    scipy.io.savemat(tmp_path / "d.mat", {"x": np.linspace(0, 1, 4), "usol": np.ones((4, 1), np.float32)}, format=fmt)
    arrays = read_arrays(tmp_path / "d.mat", {"x": "x", "u": "usol"}, CAP)
    assert arrays["u"].shape == (4, 1) and arrays["u"].dtype == np.float64
    assert read_points(tmp_path / "d.mat", {"x": "x", "u": "usol"}, CAP)["u"].shape == (4,)


# -- refusals -----------------------------------------------------------------------------


def test_unknown_suffix(tmp_path):
    assert (
        refused(csv_file(tmp_path, "x,u\n1,2\n", "d.txt"))
        == "unknown file type '.txt': data files are .npz, .csv or .mat"
    )


@pytest.mark.parametrize(
    "text,names,message",
    [
        ("x,v\n1,2\n", XU, "lacks column(s) u (has x, v)"),
        ("x,u\n1,2\n3\n", XU, "line 3 has 1 field(s); the header row has 2"),
        ("x,u\n1,2\n3,abc\n", XU, "column 'u', line 3: 'abc' is not a number"),
        (
            "x,u\n1,2\n3,4\n5,nan\n7,inf\n",
            XU,
            "column 'u' holds 2 non-finite value(s) (NaN or inf), the first at data row 3; every value must be a finite number",
        ),
        ("x,u\n", XU, "has a header row but no rows of numbers"),
        ("\n\n", XU, "is empty; a .csv needs a header row of column names and rows of numbers"),
        ("x,u,x\n1,2,3\n", XU, "column 'x' appears twice in the header row"),
    ],
    ids=["missing", "short-row", "not-a-number", "nan", "no-rows", "empty", "doubled"],
)
def test_csv_refusals(tmp_path, text, names, message):
    assert refused(csv_file(tmp_path, text), names) == message


def test_csv_larger_than_the_cap_is_refused_before_reading(tmp_path):
    path = csv_file(tmp_path, "x,u\n" + "1,2\n" * 1000)
    assert refused(path, cap=1000) == "3.9 KiB, larger than the limit of 1,000 bytes for a data file"


def test_csv_not_text(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"x,u\n1,\xff\n")
    assert refused(path) == "not UTF-8 text (byte 6); a .csv must be text"


def test_npz_refusals_keep_the_npz_messages(tmp_path):
    np.savez(tmp_path / "short.npz", x=np.arange(3.0))
    assert refused(tmp_path / "short.npz") == "lacks array(s) u (has x)"
    np.savez(tmp_path / "nan.npz", x=np.arange(3.0), u=np.array([0, np.nan, 1]))
    assert refused(tmp_path / "nan.npz") == "array 'u' holds non-finite values (NaN or inf)"
    np.savez(tmp_path / "empty.npz", x=np.zeros(0), u=np.zeros(0))
    assert refused(tmp_path / "empty.npz") == "array 'x' is empty"


def test_points_of_different_lengths(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.arange(3.0), u=np.zeros((3, 2)))
    assert (
        refused(tmp_path / "d.npz") == "arrays of different lengths ('x' 3, 'u' 6); each must hold one value per point"
    )
    # read_arrays keeps shapes: a grid is the reference reader's business
    assert read_arrays(tmp_path / "d.npz", XU, CAP)["u"].shape == (3, 2)


def test_mat_refusals(tmp_path):
    scipy.io.savemat(tmp_path / "text.mat", {"x": np.arange(3.0), "u": np.array(["abc"])})
    assert refused(tmp_path / "text.mat") == "variable 'u' is a MATLAB char array; data must be real numbers"
    scipy.io.savemat(tmp_path / "complex.mat", {"x": np.arange(3.0), "u": np.arange(3) + 1j})
    assert refused(tmp_path / "complex.mat") == "variable 'u' holds complex128; data must be real numbers"
    scipy.io.savemat(tmp_path / "short.mat", {"x": np.arange(3.0)})
    assert refused(tmp_path / "short.mat") == "lacks variable(s) u (has x)"
    scipy.io.savemat(tmp_path / "nan.mat", {"x": np.arange(3.0), "u": np.array([[1.0, np.inf, np.nan]])})
    assert refused(tmp_path / "nan.mat") == (
        "variable 'u' holds 2 non-finite value(s) (NaN or inf), the first at "
        "index (0, 1); every value must be a finite number"
    )
    scipy.io.savemat(tmp_path / "big.mat", {"x": np.zeros(100), "u": np.zeros(100)}, do_compression=True)
    assert refused(tmp_path / "big.mat", cap=1500) == "its variables hold 1.6 KiB as float64; the limit is 1.5 KiB"
    (tmp_path / "junk.mat").write_bytes(b"junk" * 100)
    assert refused(tmp_path / "junk.mat").startswith("cannot read as .mat: ")


def test_mat_v73_is_named(tmp_path):
    # a v7.3 file is HDF5 behind a 128-byte MATLAB header whose version field reads 0x0200
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + bytes(8) + b"\x00\x02IM"
    (tmp_path / "h5.mat").write_bytes(header + bytes(512))
    assert refused(tmp_path / "h5.mat") == "MATLAB v7.3 (HDF5) files are not supported; save with -v7"


def test_not_a_regular_file(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    assert refused(tmp_path / "dir.csv") == "not a regular file (a directory)"


# -- scripts/make_observations.py: what it writes, read back by this reader ------------------


def make_observations(*args: str):
    import importlib.util

    from helpers import ROOT

    spec = importlib.util.spec_from_file_location("make_observations", ROOT / "scripts" / "make_observations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(list(args))


@pytest.mark.parametrize("suffix", ["csv", "npz"])
def test_observations_of_an_exact_solution_read_back(tmp_path, suffix, capsys):
    out = tmp_path / f"obs.{suffix}"
    assert (
        make_observations(
            "--exact",
            "exp(-k*pi**2*t)*sin(pi*x)",
            "--constant",
            "k=0.1",
            "--box",
            "x=0:1",
            "--box",
            "t=0:2",
            "--output",
            "u",
            "--points",
            "200",
            "--seed",
            "3",
            "--out",
            str(out),
        )
        == 0
    )
    points = read_points(out, {"x": "x", "t": "t", "u": "u"}, CAP)
    assert len(points["u"]) == 200 and 0 <= points["x"].min() and points["t"].max() <= 2
    # every digit kept: the values are the exact solution's, bit for bit in .npz, to 1 ulp in .csv
    exact = np.exp(-0.1 * np.pi**2 * points["t"]) * np.sin(np.pi * points["x"])
    np.testing.assert_allclose(points["u"], exact, rtol=1e-15, atol=1e-16)


def test_observations_noise_is_seeded_and_sized(tmp_path, capsys):
    def noisy(seed: int, kind: str, name: str) -> np.ndarray:
        out = tmp_path / f"{name}.npz"
        assert (
            make_observations(
                "--exact",
                "3*sin(pi*x)",
                "--box",
                "x=-1:1",
                "--points",
                "20000",
                "--noise",
                "0.05",
                "--noise-kind",
                kind,
                "--seed",
                str(seed),
                "--out",
                str(out),
            )
            == 0
        )
        p = read_points(out, XU, 10 * CAP)
        return p["u"] - 3 * np.sin(np.pi * p["x"])

    relative = noisy(1, "relative", "a")
    np.testing.assert_array_equal(relative, noisy(1, "relative", "b"))  # same seed, same numbers
    assert not np.array_equal(relative, noisy(2, "relative", "c"))
    rms = 3 / np.sqrt(2)  # of 3 sin(pi x) over a period
    assert np.std(relative) == pytest.approx(0.05 * rms, rel=0.03)
    assert np.std(noisy(1, "absolute", "d")) == pytest.approx(0.05, rel=0.03)


def test_observations_from_a_spec_lie_in_its_domain(tmp_path, capsys):
    from helpers import PROBLEMS

    out = tmp_path / "obs.csv"
    assert make_observations("--spec", str(PROBLEMS / "poisson_lshape.yaml"), "--points", "500", "--out", str(out)) == 0
    p = read_points(out, {"x": "x", "y": "y", "u": "u"}, CAP)
    assert len(p["x"]) == 500
    assert not np.any((p["x"] > 0) & (p["y"] > 0))  # the L-shape lacks the upper-right quarter
    assert p["x"].min() >= -1 and p["y"].max() <= 1 and p["x"].min() < -0.9 and p["y"].max() > 0.9


@pytest.mark.parametrize(
    "args,message",
    [
        (["--exact", "__import__('os')", "--box", "x=0:1"], "error: --exact: unknown function '__import__'"),
        (["--exact", "x"], "error: --exact needs at least one --box NAME=LO:HI"),
        (["--exact", "x", "--box", "x=1:0"], "error: --box x=1:0: a name and finite bounds with LO < HI"),
        (["--exact", "log(x)", "--box", "x=-1:0"], "error: u: not finite at x="),
        (["--box", "x=0:1"], "error: give either --spec or --exact (with --box and --output)"),
    ],
    ids=["not-eval", "no-box", "bounds", "not-finite", "neither"],
)
def test_observations_refused_in_one_line(tmp_path, capsys, args, message):
    assert make_observations(*args, "--points", "5", "--out", str(tmp_path / "o.csv")) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "o.csv").exists()
