"""Reference solution of viscous Burgers, u_t + u u_x = nu u_xx, by the Cole-Hopf transform.

With phi0(y) = exp(-F(y) / (2 nu)), F' = u0, the heat equation carries phi0 forward and
u = -2 nu phi_x / phi. Written as a kernel average over the shift eta = sqrt(4 nu t) z:

    u(x, t) = sum_z u0(x - s z) exp(g(z)) / sum_z exp(g(z)),   g(z) = -z^2 - F(x - s z) / (2 nu)

with s = sqrt(4 nu t). Both sums are trapezoidal rules in z, which converge spectrally for
these smooth, rapidly decaying integrands; g is shifted by its per-x maximum before
exponentiating because F / (2 nu) spans ~100 for nu = 0.01/pi.

u0 is extended periodically (period L) to the whole line, so F must be periodic too: the
mean of u0 over a period has to vanish. Odd periodic u0 (e.g. -sin(pi x) on [-1, 1])
then also gives u(+-L/2, t) = 0, i.e. the Dirichlet problem on [-1, 1].
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.interpolate import CubicSpline

# exp(-40) ~ 4e-18: nodes whose log-integrand lies this far below the peak are dropped.
_LOG_CUTOFF = 40.0


def burgers_cole_hopf(
    u0: Callable[[np.ndarray], np.ndarray], nu: float, x: np.ndarray, t: np.ndarray, period: float = 2.0
) -> np.ndarray:
    """u on the grid x (1-D) × t (1-D), returned with shape (len(x), len(t)) (indexing 'ij')."""
    return _solve(u0, nu, x, t, period, refine=1.0)


def _solve(
    u0: Callable[[np.ndarray], np.ndarray], nu: float, x: np.ndarray, t: np.ndarray, period: float, refine: float
) -> np.ndarray:
    """`burgers_cole_hopf` with every resolution (samples of u0, z range, z spacing) scaled
    by `refine`, so tests can check convergence without widening the public signature."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if x.ndim != 1 or t.ndim != 1:
        raise ValueError("x and t must be 1-D arrays")
    if not nu > 0:
        raise ValueError(f"nu must be positive, got {nu}")
    if not period > 0:
        raise ValueError(f"period must be positive, got {period}")
    if np.any(t < 0):
        raise ValueError("t must be non-negative")

    F, f_range, amax, slope_max = _antiderivative(u0, period, n=int(2**15 * refine))
    # Range of F / (2 nu): bounds how far from z = 0 the kernel's mass can sit.
    log_range = f_range / (2 * nu)

    u = np.empty((x.size, t.size))
    for j, tj in enumerate(t):
        if tj == 0:
            u[:, j] = u0(x)
            continue
        s = np.sqrt(4 * nu * tj)
        z = _nodes(s, nu, tj, amax, slope_max, log_range, refine)
        y = x[:, None] - s * z[None, :]
        g = -(z**2) - F(y) / (2 * nu)
        w = np.exp(g - g.max(axis=1, keepdims=True))
        u[:, j] = (u0(y) * w).sum(axis=1) / w.sum(axis=1)
    return u


def _samples(u0: Callable[[np.ndarray], np.ndarray], period: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n equally spaced samples of u0 over one period [-period/2, period/2)."""
    y = -period / 2 + period * np.arange(n) / n
    v = np.asarray(u0(y), dtype=np.float64)
    if v.shape != y.shape or not np.all(np.isfinite(v)):
        raise ValueError("u0 must map a float array to a finite float array of the same shape")
    return y, v


def check_zero_mean(u0: Callable[[np.ndarray], np.ndarray], period: float, n: int = 2**15) -> None:
    """Cole-Hopf with a periodic extension needs a zero-mean u0 (else phi0 is not periodic);
    the spec validator calls this too, so a run is refused before it starts."""
    _require_zero_mean(_samples(u0, period, n)[1])


def _require_zero_mean(v: np.ndarray) -> None:
    """v: samples of u0 over one period."""
    amax = float(np.abs(v).max())
    mean = float(v.mean())  # the trapezoidal rule on a periodic grid
    if abs(mean) > 1e-8 * amax:
        raise ValueError(
            f"u0 has mean {mean:.3g} over one period (max |u0| = {amax:.3g}); Cole-Hopf with a "
            "periodic extension needs a zero-mean u0, otherwise phi0 is not periodic"
        )


def _antiderivative(
    u0: Callable[[np.ndarray], np.ndarray], period: float, n: int
) -> tuple[CubicSpline, float, float, float]:
    """Periodic antiderivative F of u0 (spectral integration of n samples, then a periodic
    cubic spline for evaluation anywhere), plus max F - min F, max|u0| and max|u0'|."""
    y, v = _samples(u0, period, n)
    _require_zero_mean(v)
    vh = np.fft.rfft(v)
    amax = float(np.abs(v).max())
    k = 2 * np.pi / period * np.arange(vh.size)
    Fh = np.zeros_like(vh)
    Fh[1:] = vh[1:] / (1j * k[1:])
    F = np.fft.irfft(Fh, n)  # additive constant is irrelevant: it cancels in the ratio
    slope_max = float(np.abs(np.fft.irfft(1j * k * vh, n)).max())
    spline = CubicSpline(np.append(y, period / 2), np.append(F, F[0]), bc_type="periodic", extrapolate="periodic")
    return spline, float(np.ptp(F)), amax, slope_max


def _nodes(s: float, nu: float, t: float, amax: float, slope_max: float, log_range: float, refine: float) -> np.ndarray:
    """Trapezoidal nodes in z covering all of the integrand that matters.

    Range: g(z) - g(0) <= -z^2 + min(log_range, b |z|) with b = s max|u0| / (2 nu), so beyond
    z_max (where that bound drops below -cutoff) every node is negligible.
    Spacing: g'' = -2 - 2 t u0'(y), so peaks are at least as narrow as a Gaussian of width
    sigma = 1 / sqrt(2 + 2 t max|u0'|); the trapezoidal error for a Gaussian, exp(-2 pi^2
    sigma^2 / h^2), is far below rounding with h = sigma / 3.
    """
    cutoff = _LOG_CUTOFF * refine
    b = s * amax / (2 * nu)
    z_max = min(np.sqrt(log_range + cutoff), (b + np.sqrt(b * b + 4 * cutoff)) / 2)
    h = 1 / np.sqrt(2 + 2 * t * slope_max) / (3 * refine)
    m = int(np.ceil(z_max / h))
    return h * np.arange(-m, m + 1)
