"""Peak memory of one rank, estimated from the spec, so what cannot fit is refused
before any rank starts (a 7 TiB network otherwise fails with a MemoryError at launch).

The model (bytes, s = the dtype's size):
  network    n_params * s * PARAM_COPIES      weights, gradient, flat and all-reduced
                                               gradient, two Adam slots, update
           + n_params * s * 2 * history       L-BFGS pairs (when L-BFGS runs)
  points     per term n * (inputs + 1 + normals) * (s + 8)   tf constants + float64 samples
  tapes      per term n * (sum(hidden) + embedded) * s * TAPE_FACTOR[order]
             where order is the highest derivative the term needs: every nested
             GradientTape keeps the activations of the level below; `embedded` is
             the first layer's input width when network.fourier_features or
             network.periodic embed the inputs (its cos and sin are kept like
             activations; not calibrated below), else 0
  reference  (rank 0) grid points * ((inputs + outputs) * (s + 24) + max(hidden, embedded) * s * 3)
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

from pinnrun.numbers import byte_size
from pinnrun.spec.adapt import adapt_rounds, adapted_terms
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
    total: int  # bytes
    parts: dict[str, int]  # network, points, tapes, reference
    blame: tuple  # the spec field whose size dominates
    detail: str  # what that field contributes, in words
    micro_batch: int | None = None  # points per micro-batch (None: the whole shard at once)
    micro_batches: int = 1


def tape_factor(order: int) -> float:
    if order in TAPE_FACTOR:
        return TAPE_FACTOR[order]
    return TAPE_FACTOR[3] * 2.5 ** (order - 3)


def input_width(spec: Spec) -> int:
    """Values per point the first layer reads: the inputs, or their embedding (model/embeddings.py
    computes the same): 2 * features for the non-periodic inputs, 2 * harmonics per periodic one."""
    net = spec.network
    rest = len(spec.variables.space) + (spec.variables.time is not None) - len(net.periodic)
    embedded = 2 * net.fourier_features.features if net.fourier_features is not None and rest else rest
    return embedded + sum(2 * p.harmonics for p in net.periodic.values())


def parameter_count(spec: Spec) -> int:
    sizes = [input_width(spec), *spec.network.hidden, len(spec.outputs)]
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
        used = [
            d.order
            for path, expr in expressions.items()
            if path[:2] in (("pde", name), ("conditions", name))
            for d in expr.derivatives
        ]
        cond = spec.conditions.get(name)
        normal = 1 if cond is not None and cond.kind in ("neumann", "robin") else 0  # du/dn
        orders[name] = max([*used, normal])
    return orders


def rank_points(spec: Spec, ranks: int | None) -> dict[str, int]:
    """Points of each term on the rank holding the most, RAR's added ones included (the loss
    reserves their rows from the start: training/adapt.py). `ranks=None`: not known yet
    (validation), so strong-scaling terms, whose points the ranks share, are left out."""
    if spec.scaling == "strong" and ranks is None:
        return {}
    share = (lambda n: n) if spec.scaling == "weak" else (lambda n: math.ceil(n / ranks))
    adapt = spec.sampling.adapt
    growing = adapted_terms(spec) if adapt is not None and adapt.method == "rar" else []
    return {
        term: share(count) + (adapt_rounds(spec) * share(adapt.add) if term in growing else 0)
        for term, count in spec.sampling.points.items()
    }


def micro_batches(points: int, micro_batch: int | None) -> int:
    """How many micro-batches a rank holding `points` evaluates (training/losses.py counts alike)."""
    return 1 if micro_batch is None or points <= micro_batch else math.ceil(points / micro_batch)


class BudgetError(ValueError):
    """training.memory_budget is below what one rank needs even one point at a time."""


def micro_batch_points(spec: Spec, ranks: int | None, expressions: dict) -> int | None:
    """Points per micro-batch: training.micro_batch, or the largest that keeps a rank's estimate
    within training.memory_budget; None: the whole shard at once."""
    if spec.training.micro_batch is not None:
        return spec.training.micro_batch
    budget = spec.training.memory_budget
    if budget is None:
        return None
    total = sum(rank_points(spec, ranks).values())
    if _estimate(spec, ranks, expressions, None).total <= budget:
        return None
    smallest = _estimate(spec, ranks, expressions, 1)
    if smallest.total > budget:
        held = {"traced graphs": FIXED_OVERHEAD, **{k: v for k, v in smallest.parts.items() if k != "tapes"}}
        parts = ", ".join(f"{name} {byte_size(size)}" for name, size in held.items() if size)
        raise BudgetError(
            f"{byte_size(budget)} is below what one rank holds whatever its micro-batches: about "
            f"{byte_size(sum(held.values()))} ({parts})"
        )
    fits, too_big = 1, total  # the estimate grows with the micro-batch: bisect for the largest that fits
    while too_big - fits > 1:
        middle = (fits + too_big) // 2
        if _estimate(spec, ranks, expressions, middle).total <= budget:
            fits = middle
        else:
            too_big = middle
    return math.ceil(total / micro_batches(total, fits))  # as many micro-batches, evened out


def estimate_rank_memory(spec: Spec, ranks: int | None, expressions: dict) -> MemoryEstimate:
    """Peak bytes of one training rank, micro-batched as the spec asks. `ranks=None`: not known
    yet (validation), so strong-scaling points, which the ranks share, are left to the launch-time
    check. A budget too small for any micro-batch raises BudgetError."""
    return _estimate(spec, ranks, expressions, micro_batch_points(spec, ranks, expressions))


def _estimate(spec: Spec, ranks: int | None, expressions: dict, micro_batch: int | None) -> MemoryEstimate:
    s = 4 if spec.network.dtype == "float32" else 8
    n_in = len(spec.variables.space) + (spec.variables.time is not None)
    n_params = parameter_count(spec)
    history = spec.training.lbfgs.history if spec.training.lbfgs and spec.training.lbfgs.steps else 0
    network = n_params * s * (PARAM_COPIES + 2 * history)

    per_term = {}
    orders = term_orders(spec, expressions)
    embedded = input_width(spec) if spec.network.fourier_features is not None or spec.network.periodic else 0
    width = sum(spec.network.hidden) + embedded
    counts = rank_points(spec, ranks)
    m = micro_batches(sum(counts.values()), micro_batch)
    for term, count in counts.items():
        normals = (
            len(spec.variables.space)
            if spec.conditions.get(term) and spec.conditions[term].kind in ("neumann", "robin")
            else 0
        )
        periodic = spec.conditions.get(term) and spec.conditions[term].kind == "periodic"
        pairs = 2 if periodic else 1  # a point on each part
        at_once = math.ceil(count / m) * pairs  # the tapes hold one micro-batch
        per_term[term] = (
            count * pairs * (n_in + 1 + normals) * (s + 8),
            at_once * width * s * tape_factor(orders[term]),
            count,
        )
    points = sum(p for p, _, _ in per_term.values())
    tapes = sum(t for _, t, _ in per_term.values())

    grid = grid_points(spec)
    reference = grid * ((n_in + len(spec.outputs)) * (s + 24) + max(*spec.network.hidden, embedded) * s * 3)

    parts = {"network": network, "points": points, "tapes": tapes, "reference": reference}
    total = FIXED_OVERHEAD + sum(parts.values())
    biggest = max(parts, key=parts.get)
    if biggest in ("points", "tapes") and per_term:
        term = max(per_term, key=lambda k: per_term[k][0] + per_term[k][1])
        count = per_term[term][2]
        blame, detail = (
            ("sampling", "points", term),
            (
                f"{count:,} points of '{term}' x {width:,} hidden{' and embedding' if embedded else ''} units, "
                f"derivatives of order {orders[term]}"
            ),
        )
    elif biggest == "reference":
        blame, detail = ("reference", "grid"), f"a reference grid of {grid:,} points"
    else:
        blame, detail = ("network", "hidden"), f"{n_params:.3g} parameters x {s} bytes"
    return MemoryEstimate(int(total), parts, blame, detail, micro_batch if m > 1 else None, m)


def memory_line(spec: Spec, expressions: dict) -> str:
    """What `pinnrun validate` says of a rank's memory: the estimate, micro-batched as the spec asks."""
    where = "per rank" if spec.scaling == "weak" else "on 1 rank (strong scaling: less per rank on more ranks)"
    try:
        e = estimate_rank_memory(spec, 1, expressions)
    except BudgetError as error:  # strong scaling: validation could not count the points yet
        return f"training.memory_budget: {error} {where}"
    how = (
        f"in {e.micro_batches:,} micro-batches of at most {e.micro_batch:,} points"
        if e.micro_batch
        else "the whole shard at once"
    )
    return f"about {byte_size(e.total)} {how} {where} (estimate of training; the TensorFlow runtime comes on top)"
