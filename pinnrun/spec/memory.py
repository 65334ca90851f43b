"""Peak memory of one rank, estimated from the spec, so what cannot fit is refused
before any rank starts (a 7 TiB network otherwise fails with a MemoryError at launch).

The model (bytes, s = the dtype's size):
  network    n_params * s * PARAM_COPIES      weights, gradient, flat and all-reduced
                                               gradient, two Adam slots, update
           + n_params * s * 2 * history       L-BFGS pairs (when L-BFGS runs)
  points     per term n * (inputs + 1 + normals) * (s + 8)   tf constants + float64 samples
  tapes      per term n * sum(hidden) * s * TAPE_FACTOR[order]
             where order is the highest derivative the term needs: every nested
             GradientTape keeps the activations of the level below
  reference  (rank 0) grid points * ((inputs + outputs) * (s + 24) + max(hidden) * s * 3)
             grid coordinates, meshgrid, values and predictions, one forward pass

Calibration against measured peaks (VmHWM minus the RSS after starting TensorFlow,
3 Adam + 3 L-BFGS steps, one process each, 2-core x86 host, TF 2.18.1 CPU):
    .venv/bin/python scripts/measure_step_memory.py problems/<spec>.yaml --set <override>
  spec     override                                  measured MiB  estimate (training) MiB
  burgers  sampling.points.burgers=4096              120            169   (f32, 4x32, order 2)
  burgers  sampling.points.burgers=32768             329            450
  heat1d   sampling.points.heat=4096                 123            191   (f64, 3x32, order 2)
  heat1d   sampling.points.heat=32768                412            612
  heat1d   ...=32768, pde.heat=u-x                   114            204   (order 0)
  heat1d   ...=32768, pde.heat=u_t+u_x               193            324   (order 1)
  heat1d   ...=32768, pde.heat=u_t-u_xxx             894           1284   (order 3)
  heat1d   ...=8192, network.hidden=[256,256,256]    987           1202   (f64, 3x256)
Per point and hidden unit, order 2 keeps ~14 dtype-sized values (the slope between
4096 and 32768 points); the fixed part is ~90 MiB. So the estimate is 1.2-1.8x the
measured peak and never below it: conservative, not absurd.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pinnrun.spec.schema import DEFAULT_POINTS, DEFAULT_TIME_POINTS, Spec

PARAM_COPIES = 8
# Values kept per point and hidden unit, by derivative order: measured (the table above:
# ~1.2, 4.5, 13.6, 33.7 at orders 0-3) and rounded up; each further order x2.5.
TAPE_FACTOR = {0: 3, 1: 8, 2: 20, 3: 48}
FIXED_OVERHEAD = 128 * 2**20  # traced graphs and their buffers (~90 MiB measured), whatever the sizes
# One rank beyond this is refused whatever the host: no node gives one process more, and a
# spec's validity must not depend on where it is validated. `pinnrun train` then checks the
# ranks it places on this host against its available memory (launch/memory_check.py).
MAX_RANK_BYTES = 2**40  # 1 TiB



@dataclass(frozen=True)
class MemoryEstimate:
    total: int                 # bytes
    parts: dict[str, int]      # network, points, tapes, reference
    blame: tuple               # the spec field whose size dominates
    detail: str                # what that field contributes, in words


def tape_factor(order: int) -> float:
    if order in TAPE_FACTOR:
        return TAPE_FACTOR[order]
    return TAPE_FACTOR[3] * 2.5 ** (order - 3)


def parameter_count(spec: Spec) -> int:
    n_in = len(spec.variables.space) + (spec.variables.time is not None)
    sizes = [n_in, *spec.network.hidden, len(spec.outputs)]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def grid_counts(spec: Spec) -> dict[str, int]:
    """Points per input axis of the reference grid (given, else the defaults)."""
    counts = spec.reference.grid if spec.reference is not None else {}
    space = spec.variables.space
    axes = {name: counts.get(name, DEFAULT_POINTS[len(space)]) for name in space}
    if spec.variables.time:
        axes[spec.variables.time] = counts.get(spec.variables.time, DEFAULT_TIME_POINTS)
    return axes


def grid_points(spec: Spec) -> int:
    """Points of the reference grid rank 0 evaluates (0 for a data file: its own size cap applies)."""
    if spec.reference is not None and spec.reference.file is not None:
        return 0
    return math.prod(grid_counts(spec).values())


def term_orders(spec: Spec, expressions: dict) -> dict[str, int]:
    """The highest derivative order each term needs, from the expressions validation parsed
    (by spec path: a pde residual, a condition's fields and the derivatives it names)."""
    orders = {}
    for name in [*spec.pde, *spec.conditions]:
        used = [d.order for path, expr in expressions.items() if path[:2] in (("pde", name), ("conditions", name))
                for d in expr.derivatives]
        cond = spec.conditions.get(name)
        normal = 1 if cond is not None and cond.kind in ("neumann", "robin") else 0  # du/dn
        orders[name] = max([*used, normal])
    return orders


def estimate_rank_memory(spec: Spec, ranks: int | None, expressions: dict) -> MemoryEstimate:
    """Peak bytes of one training rank. `ranks=None`: not known yet (validation), so
    strong-scaling points, which the ranks share, are left to the launch-time check."""
    s = 4 if spec.network.dtype == "float32" else 8
    n_in = len(spec.variables.space) + (spec.variables.time is not None)
    n_params = parameter_count(spec)
    history = spec.training.lbfgs.history if spec.training.lbfgs and spec.training.lbfgs.steps else 0
    network = n_params * s * (PARAM_COPIES + 2 * history)

    per_term = {}
    orders = term_orders(spec, expressions)
    width = sum(spec.network.hidden)
    for term, count in spec.sampling.points.items():
        if spec.scaling == "strong":
            if ranks is None:
                continue
            count = math.ceil(count / ranks)
        normals = len(spec.variables.space) if spec.conditions.get(term) and \
            spec.conditions[term].kind in ("neumann", "robin") else 0
        if spec.conditions.get(term) and spec.conditions[term].kind == "periodic":
            count *= 2  # a point on each of the two parts
        per_term[term] = (count * (n_in + 1 + normals) * (s + 8),
                          count * width * s * tape_factor(orders[term]), count)
    points = sum(p for p, _, _ in per_term.values())
    tapes = sum(t for _, t, _ in per_term.values())

    grid = grid_points(spec)
    reference = grid * ((n_in + len(spec.outputs)) * (s + 24) + max(spec.network.hidden) * s * 3)

    parts = {"network": network, "points": points, "tapes": tapes, "reference": reference}
    total = FIXED_OVERHEAD + sum(parts.values())
    biggest = max(parts, key=parts.get)
    if biggest in ("points", "tapes") and per_term:
        term = max(per_term, key=lambda k: per_term[k][0] + per_term[k][1])
        count = per_term[term][2]
        blame, detail = ("sampling", "points", term), (
            f"{count:,} points of '{term}' x {width:,} hidden units, derivatives of order {orders[term]}")
    elif biggest == "reference":
        blame, detail = ("reference", "grid"), f"a reference grid of {grid:,} points"
    else:
        blame, detail = ("network", "hidden"), f"{n_params:.3g} parameters x {s} bytes"
    return MemoryEstimate(int(total), parts, blame, detail)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
