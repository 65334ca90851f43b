"""solution_<name>.png: the prediction of an output or derived quantity at the reference's points
against the reference (where it has one).

On a grid: one input gives lines (prediction over reference) and the pointwise error below;
two inputs (x and t, or x and y) heat maps of prediction, reference and |error|; more inputs
the same heat maps on a slice (time at its end, other axes at their middle). Points outside
the domain (predictions.npz's inside_domain) are not drawn, so an L-shape looks like one.
At scattered points: each point coloured by its value, over the first two inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pinnrun.numbers import sci


def plot_solutions(npz: Path, spec: dict, problem: str, out_dir: Path) -> tuple[list[Path], list[str]]:
    inputs, time = spec["inputs"], spec.get("time")
    written, notes = [], []
    try:
        with np.load(npz, allow_pickle=False) as data:
            names = set(data.files)
            missing = [k for k in inputs if k not in names]
            if missing:
                return [], [f"predictions.npz lacks the axis array(s) {', '.join(missing)}: no solution plot"]
            axes = {k: np.asarray(data[k], dtype=float).ravel() for k in inputs}
            fields = {
                out: (
                    np.asarray(data[out], dtype=float),
                    np.asarray(data[f"{out}_reference"], dtype=float) if f"{out}_reference" in names else None,
                )
                for out in [*spec["outputs"], *spec.get("derived", [])]
                if out in names
            }
            scattered = "is_scattered" in names and data["is_scattered"].size == 1 and bool(data["is_scattered"])
            inside = np.asarray(data["inside_domain"]) if "inside_domain" in names else None
    except (OSError, ValueError) as err:
        return [], [f"predictions.npz unreadable ({err}): no solution plot"]
    if scattered and len({len(a) for a in axes.values()}) != 1:
        return [], ["predictions.npz: scattered coordinates of different lengths: no solution plot"]
    shape = (len(axes[inputs[0]]),) if scattered else tuple(len(a) for a in axes.values())
    if inside is not None and (inside.dtype != bool or inside.shape != shape):
        notes.append(f"predictions.npz: inside_domain is not a {shape} mask of booleans: the whole grid is drawn")
        inside = None
    for out, (pred, ref) in fields.items():
        if pred.shape != shape or (ref is not None and ref.shape != shape):
            notes.append(f"predictions.npz: '{out}' is not shaped like the points {shape}: not plotted")
            continue
        if inside is not None:  # outside the domain: not drawn, not counted
            pred, ref = _outside_blank(pred, inside), (None if ref is None else _outside_blank(ref, inside))
        path = out_dir / f"solution_{out}.png"
        if scattered:
            _points(axes, out, pred, ref, problem, path)
        elif len(inputs) == 1:
            _lines(axes, out, pred, ref, problem, path)
        else:
            where, keep, pred, ref = _slice(axes, time, pred, ref)
            _heat_maps(keep, out, pred, ref, problem, where, path)
        written.append(path)
    return written, notes


def _outside_blank(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    return np.where(inside, values, np.nan)


def _slice(axes: dict, time: str | None, pred, ref):
    """Keep the first two inputs; take the others at one value (time: last, space: middle)."""
    names = list(axes)
    index = tuple(
        slice(None) if i < 2 else (len(axes[n]) - 1 if n == time else len(axes[n]) // 2) for i, n in enumerate(names)
    )
    where = ", ".join(f"{n} = {axes[n][index[i]]:.3g}" for i, n in enumerate(names) if i >= 2)
    keep = {n: axes[n] for n in names[:2]}
    return where, keep, pred[index], (ref[index] if ref is not None else None)


def _title(problem: str, out: str, inputs, pred, ref, where: str = "") -> str:
    text = f"{problem}: {out}({', '.join(inputs)})" + (f" at {where}" if where else "")
    if ref is None:
        return text + " — prediction (no reference solution)"
    shown = np.isfinite(ref) & np.isfinite(pred)  # the points inside the domain
    l2 = np.linalg.norm(pred[shown] - ref[shown]) / np.linalg.norm(ref[shown])
    return text + f" — prediction vs reference, L2 relative error {sci(l2, 2)}"


def _points(axes: dict, out: str, pred, ref, problem: str, path: Path) -> None:
    """Scattered points: one input, values against it; more, coloured dots over the first two."""
    import matplotlib.pyplot as plt

    names = list(axes)
    if len(names) == 1:
        order = np.argsort(axes[names[0]])
        _lines(
            {names[0]: axes[names[0]][order]},
            out,
            pred[order],
            None if ref is None else ref[order],
            problem,
            path,
            marker=".",
        )
        return
    (xn, x), (yn, y) = list(axes.items())[:2]
    panels = [("prediction", pred)] + (
        [("reference", ref), ("|prediction − reference|", np.abs(pred - ref))] if ref is not None else []
    )
    fig, axs = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), layout="constrained", squeeze=False)
    both = np.concatenate([pred.ravel()] + ([ref.ravel()] if ref is not None else []))
    value_style = _value_style(both[np.isfinite(both)])
    shown = np.isfinite(pred)
    for ax, (label, values) in zip(axs[0], panels):
        style = {"cmap": "inferno"} if label.startswith("|") else value_style
        dots = ax.scatter(x[shown], y[shown], c=values[shown], s=12, **style)
        ax.set_xlabel(xn)
        ax.set_ylabel(yn)
        if len(panels) > 1:
            ax.set_title(label, fontsize="medium")
        fig.colorbar(dots, ax=ax).set_label(f"|{out} − {out}_ref|" if label.startswith("|") else out)
    rest = names[2:]
    where = f"all {', '.join(rest)} (projected)" if rest else ""
    fig.suptitle(_title(problem, out, [xn, yn], pred, ref, where) + f", {len(x):,} points")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _lines(axes: dict, out: str, pred, ref, problem: str, path: Path, marker: str | None = None) -> None:
    import matplotlib.pyplot as plt

    ((name, x),) = axes.items()
    if ref is None:
        fig, top = plt.subplots(figsize=(8, 4.5), layout="constrained")
    else:
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(8, 6.5), sharex=True, height_ratios=[2, 1], layout="constrained"
        )
        top.plot(x, ref, color="black", lw=2.5, alpha=0.5, label="reference", marker=marker)
        bottom.semilogy(x, np.abs(pred - ref), color="tab:red", lw=1.2)
        bottom.set_ylabel(f"|{out} − {out}_ref|")
        bottom.set_xlabel(name)
        bottom.set_title("pointwise absolute error", fontsize="medium")
        bottom.grid(True, alpha=0.3)
    top.plot(x, pred, color="tab:blue", lw=1.2, ls="--" if ref is not None else "-", label="prediction", marker=marker)
    top.set_ylabel(out)
    if ref is None:
        top.set_xlabel(name)
    top.grid(True, alpha=0.3)
    top.legend(fontsize="small")
    top.set_title(_title(problem, out, [name], pred, ref), fontsize="medium")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _heat_maps(axes: dict, out: str, pred, ref, problem: str, where: str, path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    (xn, x), (yn, y) = axes.items()
    panels = [("prediction", pred)] + (
        [("reference", ref), ("|prediction − reference|", np.abs(pred - ref))] if ref is not None else []
    )
    fig, axs = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), layout="constrained", squeeze=False)
    both = np.concatenate([pred.ravel()] + ([ref.ravel()] if ref is not None else []))
    value_style = _value_style(both[np.isfinite(both)])
    for ax, (label, values) in zip(axs[0], panels):
        style = {"cmap": "inferno"} if label.startswith("|") else value_style
        # arrays are indexed [x, y] ('ij'); pcolormesh wants rows along the vertical axis.
        # NaN (outside the domain) masked: those cells stay blank
        mesh = ax.pcolormesh(x, y, np.ma.masked_invalid(values.T), shading="auto", **style)
        ax.set_xlabel(xn)
        ax.set_ylabel(yn)
        if len(panels) > 1:  # a lone prediction is named by the figure's title
            ax.set_title(label, fontsize="medium")
        bar = fig.colorbar(mesh, ax=ax)
        bar.set_label(f"|{out} − {out}_ref|" if label.startswith("|") else out)
        bar.formatter = ScalarFormatter(useMathText=True)
        bar.formatter.set_powerlimits((-2, 3))  # small errors as 2×10⁻⁴, not 0.00020
        bar.update_ticks()
    fig.get_layout_engine().set(wspace=0.06)  # keep a colour bar's label off the next panel's axis label
    fig.suptitle(_title(problem, out, [xn, yn], pred, ref, where))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _value_style(values) -> dict:
    """Same colour scale for prediction and reference; centred on zero when the field changes sign."""
    if values.size == 0:
        return {"cmap": "viridis"}
    lo, hi = float(values.min()), float(values.max())
    if min(-lo, hi) > 0.05 * max(-lo, hi):  # really both signs, not just round-off around zero
        m = max(-lo, hi)
        return {"cmap": "RdBu_r", "vmin": -m, "vmax": m}
    return {"cmap": "viridis", "vmin": lo, "vmax": hi}
