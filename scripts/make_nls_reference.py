#!/usr/bin/env python
"""The nonlinear Schrödinger reference of problems/nls.yaml, computed by this project:

    i h_t + 0.5 h_xx + |h|^2 h = 0,  x in [-5, 5) periodic,  t in [0, pi/2],  h(x, 0) = 2 sech(x)

solved by Strang split-step Fourier (the linear part exactly in Fourier space, the nonlinear
part exactly in x: |h| is constant under h_t = i |h|^2 h) and written as a gridded .npz:
x (256: the periodic grid -5 + 10 j / 256, Raissi's), t (201, endpoints included), u = Re h and
v = Im h indexed [x, t].

    python scripts/make_nls_reference.py --out problems/data/nls_reference.npz

The solver runs on 1,024 Fourier modes (the 256 output points are every 4th) with 100 steps per
output interval (1.4 s). Against 2,048 modes and 200 steps |h| differs by 1.5e-6 (relative L2),
and against Raissi's data (../shared/reference/raissi_NLS.mat, not made by this project) by
1.2e-5; tests/test_nls_reference.py checks both. Stored as float32 (7 digits, far below the
5e-3 error a PINN reaches).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

LENGTH, T_END = 10.0, np.pi / 2


def split_step(x: np.ndarray, h0: np.ndarray, times: np.ndarray, substeps: int) -> np.ndarray:
    """h at `times` (times[0] is h0's), shape (len(x), len(times)): Strang splitting, half a
    nonlinear step, a full linear step, half a nonlinear step, `substeps` times per interval."""
    n = len(x)
    k = 2 * np.pi * np.fft.fftfreq(n, d=LENGTH / n)
    h = h0.astype(np.complex128)
    out = np.empty((n, len(times)), np.complex128)
    out[:, 0] = h
    for j in range(1, len(times)):
        dt = (times[j] - times[j - 1]) / substeps
        linear = np.exp(-0.5j * k**2 * dt)
        for _ in range(substeps):
            h = h * np.exp(0.5j * dt * np.abs(h) ** 2)
            h = np.fft.ifft(linear * np.fft.fft(h))
            h = h * np.exp(0.5j * dt * np.abs(h) ** 2)
        out[:, j] = h
    return out


def solve(points: int = 256, times: int = 201, modes: int = 1024, substeps: int = 100) -> tuple:
    """(x, t, h): x the `points`-point periodic grid, t `times` points on [0, pi/2], h[x, t]."""
    if modes % points:
        raise ValueError("modes must be a multiple of points")
    fine = -LENGTH / 2 + LENGTH * np.arange(modes) / modes
    t = np.linspace(0.0, T_END, times)
    h = split_step(fine, 2.0 / np.cosh(fine), t, substeps)
    step = modes // points
    return fine[::step], t, h[::step]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the .npz to write")
    args = parser.parse_args(argv)
    x, t, h = solve()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, x=x, t=t, u=h.real.astype(np.float32), v=h.imag.astype(np.float32))
    print(f"wrote {args.out}: x {x.shape}, t {t.shape}, u and v {h.shape}; max |h| {np.abs(h).max():.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
