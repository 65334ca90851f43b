"""The references this project computes itself (scripts/make_*_reference.py): the committed
files are what the scripts make, the solvers have converged, and they agree with independent
solutions from ../shared/reference/ (skipped when that folder is absent: a fresh clone)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "reference"
sys.path.insert(0, str(ROOT / "scripts"))

import make_allen_cahn_reference as allen_cahn  # noqa: E402
import make_nls_reference as nls  # noqa: E402


def relative(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def shared(name: str) -> dict:
    path = SHARED / name
    if not path.exists():
        pytest.skip("../shared/reference is absent")
    return scipy.io.loadmat(path)


@pytest.fixture(scope="module")
def nls_solution():
    return nls.solve()


@pytest.fixture(scope="module")
def allen_cahn_solution():
    return allen_cahn.solve()


@pytest.mark.slow
def test_nls_committed_file_is_the_scripts_output(nls_solution):
    x, t, h = nls_solution
    saved = np.load(ROOT / "problems/data/nls_reference.npz", allow_pickle=False)
    np.testing.assert_array_equal(saved["x"], x)
    np.testing.assert_array_equal(saved["t"], t)
    np.testing.assert_array_equal(saved["u"], h.real.astype(np.float32))
    np.testing.assert_array_equal(saved["v"], h.imag.astype(np.float32))


@pytest.mark.slow
def test_nls_solver_has_converged_and_keeps_the_invariants(nls_solution):
    x, t, h = nls_solution
    finer = nls.solve(modes=2048, substeps=200)[2]
    assert relative(np.abs(h), np.abs(finer)) < 5e-6
    # The equation conserves the mass (L2 norm); split-step keeps it to round-off on its own
    # 1,024 modes, so on every 4th point the sum still holds to a few 1e-6.
    mass = (np.abs(h) ** 2).sum(axis=0) * (x[1] - x[0])
    np.testing.assert_allclose(mass, mass[0], rtol=1e-5)
    assert abs(mass[0] - 8.0) < 1e-3  # int (2 sech x)^2 dx over [-5, 5] = 8 tanh(5)


@pytest.mark.slow
def test_nls_agrees_with_raissis_data(nls_solution):
    data = shared("raissi_NLS.mat")
    x, t, h = nls_solution
    np.testing.assert_allclose(x, data["x"].ravel(), atol=1e-12)
    np.testing.assert_allclose(t, data["tt"].ravel(), atol=1e-12)
    assert relative(np.abs(h), np.abs(data["uu"])) < 5e-5  # measured 1.2e-5
    assert relative(h, data["uu"]) < 5e-5  # the phase too: 1.7e-5


@pytest.mark.slow
def test_allen_cahn_committed_file_is_the_scripts_output(allen_cahn_solution):
    x, t, u = allen_cahn_solution
    saved = np.load(ROOT / "problems/data/allen_cahn_reference.npz", allow_pickle=False)
    np.testing.assert_array_equal(saved["x"], x)
    np.testing.assert_array_equal(saved["t"], t)
    np.testing.assert_allclose(saved["u"], u, rtol=0, atol=1e-9)  # Radau's steps may differ in the last bits


@pytest.mark.slow
def test_allen_cahn_solver_has_converged(allen_cahn_solution):
    coarser = allen_cahn.solve(cells=2000)[2]
    assert relative(coarser, allen_cahn_solution[2]) < 2e-5  # measured 4.9e-6
    x, t, u = allen_cahn_solution
    np.testing.assert_allclose(u[:, 0], x**2 * np.cos(np.pi * x), atol=1e-12)
    np.testing.assert_array_equal(u[[0, -1]], -1.0)


@pytest.mark.slow
def test_allen_cahn_agrees_with_deepxdes_data(allen_cahn_solution):
    data = shared("deepxde_Allen_Cahn.mat")
    x, t, u = allen_cahn_solution
    np.testing.assert_allclose(x, data["x"].ravel(), atol=1e-12)
    np.testing.assert_allclose(t, data["t"].ravel(), atol=1e-12)
    assert relative(u, data["u"].T) < 1e-3  # measured 1.6e-4 (DeepXDE's file stores u[t, x])
