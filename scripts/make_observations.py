#!/usr/bin/env python
"""Observation data for an inverse problem: an exact solution sampled at N random points of the
domain, with optional Gaussian noise, written as .npz or .csv with named columns.

    python scripts/make_observations.py --spec problems/inverse_diffusion.yaml --points 50 \\
        --noise 0.01 --seed 1 --out problems/data/diffusion_obs.csv
    python scripts/make_observations.py --exact "exp(-0.1*pi**2*t)*sin(pi*x)" --box x=0:1 --box t=0:1 \\
        --output u --points 50 --out obs.npz

With --spec the expression is the spec's reference.exact (every output or derived quantity it
gives, or --output's: a velocity u of `derived: {u: psi_y}` is written like an output)
and the points lie in the spec's domain (any region, drawn uniformly by rejection from its
bounding box); with --exact they fill the --box axes, in the order given, which name the columns.
Noise: `relative` (default) adds N(0, (noise * RMS of the output's clean values)^2) to every value,
so 0.01 is 1% of the signal's size even where it crosses zero; `absolute` adds N(0, noise^2).
The expression goes through pinnrun's parser (never eval). Points, noise and the file depend
only on the arguments: the same --seed writes the same numbers.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pinnrun.spec.expressions import ExpressionError, parse  # noqa: E402

MAX_POINTS = 10_000_000  # 10^7 points of a few columns: a few hundred MB of .csv at most


class Refused(Exception):
    """A bad argument: one line, exit 2."""


def main(argv: list[str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    try:
        if (args.spec is None) == (args.exact is None):
            raise Refused("give either --spec or --exact (with --box and --output)")
        if not 1 <= args.points <= MAX_POINTS:
            raise Refused(f"--points must be 1..{MAX_POINTS:,}")
        if not (math.isfinite(args.noise) and args.noise >= 0):
            raise Refused("--noise must be a finite number >= 0")
        if Path(args.out).suffix.lower() not in (".npz", ".csv"):
            raise Refused(f"--out {args.out}: write a .npz or .csv file")
        inputs, exact, constants, inside, box = _from_spec(args) if args.spec else _from_options(args)
        rng = np.random.default_rng(args.seed)
        x = _draw(rng, box, inside, args.points)
        columns = dict(zip(inputs, x.T))
        for out, expr in exact.items():
            clean = _evaluate(expr, columns, constants, out)
            columns[out] = clean + _noise(rng, clean, args.noise, args.noise_kind)
        _write(Path(args.out), columns)
    except Refused as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {args.points:,} points, columns {', '.join(columns)}")
    return 0


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spec", help="a spec whose reference.exact and domain to sample")
    parser.add_argument("--exact", help="an exact solution as an expression of the --box axes")
    parser.add_argument(
        "--box",
        action="append",
        default=[],
        metavar="NAME=LO:HI",
        help="an input axis and its range (repeat; their order is the columns')",
    )
    parser.add_argument(
        "--constant",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a named number the expression uses (with --exact; repeat)",
    )
    parser.add_argument(
        "--output",
        action="append",
        default=[],
        help="the output's column name (with --exact, default u); with --spec, the outputs "
        "or derived quantities to keep",
    )
    parser.add_argument("--points", type=int, required=True)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--noise-kind", choices=("relative", "absolute"), default="relative")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="the file to write: .npz or .csv")
    return parser


def _from_options(args):
    """Inputs, {output: expression}, constants, the containment test (None: the box) and the box."""
    if not args.box:
        raise Refused("--exact needs at least one --box NAME=LO:HI")
    box, constants = {}, {}
    for item in args.box:
        name, lo, hi = _named_range(item)
        if name in box:
            raise Refused(f"--box {item}: '{name}' is given twice")
        box[name] = (lo, hi)
    for item in args.constant:
        name, _, value = item.partition("=")
        try:
            constants[name.strip()] = float(value)
        except ValueError:
            raise Refused(f"--constant {item}: write NAME=NUMBER") from None
    if len(args.output) > 1:
        raise Refused("--exact gives one output: give --output once")
    inputs = list(box)
    expr = _parse(args.exact, inputs, constants, "--exact")
    return inputs, {(args.output or ["u"])[0]: expr}, constants, None, np.array(list(box.values()))


def _from_spec(args):
    """As _from_options, from a spec: its domain and its reference.exact, as validation parsed it.
    (Not load_problem: the spec may name the very data file this script is about to write.)"""
    from pinnrun.errors import PinnrunError
    from pinnrun.problem.build import build_domain
    from pinnrun.spec.loader import load_spec

    if args.box or args.exact or args.constant:
        raise Refused("--box, --exact and --constant go without --spec (the spec gives the domain and solution)")
    try:
        loaded = load_spec(args.spec)
        domain = build_domain(loaded)
    except PinnrunError as err:
        raise Refused(str(err)) from None
    spec = loaded.spec
    if spec.reference is None or spec.reference.exact is None:
        raise Refused(f"{args.spec}: no reference.exact to sample")
    inputs = [*spec.variables.space, *([spec.variables.time] if spec.variables.time else [])]
    single = not isinstance(spec.reference.exact, dict)
    exact = (
        {spec.outputs[0]: loaded.expressions[("reference", "exact")]}
        if single
        else {out: loaded.expressions[("reference", "exact", out)] for out in spec.reference.exact}
    )
    unknown = [o for o in args.output if o not in exact]
    if unknown:
        raise Refused(f"--output {unknown[0]}: the spec's reference.exact gives {', '.join(exact)}")
    chosen = {o: exact[o] for o in (args.output or exact)}
    return inputs, chosen, dict(loaded.constants), domain.contains, np.asarray(domain.bounding_box(), dtype=float)


def _named_range(item: str) -> tuple[str, float, float]:
    name, _, span = item.partition("=")
    lo, _, hi = span.partition(":")
    try:
        lo, hi = float(lo), float(hi)
    except ValueError:
        raise Refused(f"--box {item}: write NAME=LO:HI, e.g. x=0:1") from None
    if not (name.strip() and math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise Refused(f"--box {item}: a name and finite bounds with LO < HI")
    return name.strip(), lo, hi


def _parse(source, inputs, constants, what: str):
    try:
        return parse(source, variables=inputs, constants=list(constants))
    except ExpressionError as err:
        raise Refused(f"{what}: {err}") from None


def _draw(rng: np.random.Generator, box: np.ndarray, inside, n: int) -> np.ndarray:
    """n points uniform in the domain: in the box, kept where `inside` holds (rejection)."""
    lo, hi = box[:, 0], box[:, 1]
    if inside is None:
        return lo + (hi - lo) * rng.random((n, len(box)))
    kept, tries = [], 0
    while sum(len(k) for k in kept) < n:
        batch = lo + (hi - lo) * rng.random((max(n, 1024), len(box)))
        kept.append(batch[np.asarray(inside(batch), dtype=bool)])
        tries += 1
        if tries > 1000:
            raise Refused("the domain covers almost none of its bounding box: no points drawn")
    return np.concatenate(kept)[:n]


def _evaluate(expr, columns: dict, constants: dict, out: str) -> np.ndarray:
    n = len(next(iter(columns.values())))
    with np.errstate(all="ignore"):
        try:
            values = np.broadcast_to(np.asarray(expr.evaluate(columns | constants), dtype=np.float64), (n,)).copy()
        except (ExpressionError, ArithmeticError, ValueError, TypeError) as err:
            raise Refused(f"{out}: cannot evaluate: {err}") from None
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        where = ", ".join(f"{k}={v[bad[0]]:.6g}" for k, v in columns.items())
        raise Refused(f"{out}: not finite at {where}")
    return values


def _noise(rng: np.random.Generator, clean: np.ndarray, size: float, kind: str) -> np.ndarray:
    if size == 0:
        return np.zeros_like(clean)
    scale = size * (np.sqrt(np.mean(clean**2)) if kind == "relative" else 1.0)
    return rng.normal(0.0, scale, clean.shape)


def _write(path: Path, columns: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npz":
        np.savez(path, **columns)
    else:  # every digit: read back, the values are the same float64 numbers
        np.savetxt(
            path,
            np.stack(list(columns.values()), axis=1),
            delimiter=",",
            fmt="%.17g",
            header=",".join(columns),
            comments="",
        )


if __name__ == "__main__":
    sys.exit(main())
