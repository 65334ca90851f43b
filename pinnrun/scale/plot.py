"""scaling.png: a study at a glance. Measured values are filled markers; the
cost model is a dashed line with hollow markers, so the two never blur."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, ScalarFormatter  # noqa: E402

from pinnrun.scale.cost_model import CostModel  # noqa: E402


def plot_study(study: dict, path: Path) -> None:
    fig = _points_figure(study) if study["kind"] == "points" else _scaling_figure(study)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _scaling_figure(study: dict) -> plt.Figure:
    mode = study["mode"]
    done = [r for r in study["rows"] if r["status"] == "finished"]
    ranks = np.array([r["ranks"] for r in done])
    model = _model(study)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    fig.suptitle(
        f"{mode} scaling of {study['problem']}: measured"
        + (" and cost-model prediction" if model else "")
        + f" (host {study.get('host', '?')})"
    )
    ax_t, ax_s, ax_e, ax_x = axes.ravel()

    model_ranks = (
        np.unique(np.concatenate([ranks, [r["ranks"] for r in study["predicted"] if r["mode"] == mode]]))
        if model
        else []
    )
    rows = (
        {
            m: [model.predict(m, int(p), study["model"]["problem_points"]) for p in model_ranks]
            for m in ("weak", "strong")
        }
        if model
        else {}
    )

    ax_t.set_title("time per training step (median, Adam)")
    if len(done):
        t = np.array([r["seconds_per_step"] for r in done]) * 1e3
        lo = t - np.array([r["seconds_per_step_min"] for r in done]) * 1e3
        hi = np.array([r["seconds_per_step_max"] for r in done]) * 1e3 - t
        ax_t.errorbar(ranks, t, yerr=[lo, hi], fmt="o-", capsize=3, label="measured (min-max of repeats)")
    if model:
        ax_t.plot(model_ranks, [r["seconds_per_step"] * 1e3 for r in rows[mode]], "o--", mfc="none", label="model")
        ax_t.plot(
            model_ranks,
            [r["allreduce_seconds"] * 1e3 for r in rows[mode]],
            ":",
            color="grey",
            label="model: all-reduce part",
        )
    ax_t.set_ylabel("ms per step")

    ax_s.set_title("speedup (throughput relative to the smallest size)")
    top = max([*ranks, *model_ranks, 1])
    ax_s.plot([1, top], [1, top], "-", color="lightgrey", label="ideal")
    if len(done):
        ax_s.plot(ranks, [r["speedup"] for r in done], "o-", label="measured")
    if model:
        ax_s.plot(model_ranks, [r["speedup"] for r in rows[mode]], "o--", mfc="none", label="model")
    ax_s.set_ylabel("speedup")

    ax_e.set_title("parallel efficiency")
    ax_e.axhline(100, color="lightgrey", label="ideal")
    if len(done):
        ax_e.plot(ranks, [100 * r["efficiency"] for r in done], "o-", label=f"measured ({mode})")
    if model:
        for m, style in ((mode, "o--"), ({"weak": "strong", "strong": "weak"}[mode], "x:")):
            ax_e.plot(model_ranks, [100 * r["efficiency"] for r in rows[m]], style, mfc="none", label=f"model ({m})")
    ax_e.set_ylabel("efficiency (%)")
    ax_e.set_ylim(0, 110)

    for ax in (ax_t, ax_s, ax_e):
        _ranks_axis(ax)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax_t.set_yscale("log")
    ax_s.set_yscale("log", base=2)
    ax_s.yaxis.set_major_formatter(PLAIN)
    _error_panel(ax_x, study, done)
    fig.tight_layout()
    return fig


def _error_panel(ax, study: dict, done: list[dict]) -> None:
    with_error = [r for r in done if r.get("l2_relative_error") is not None]
    if study["mode"] == "weak" and with_error:
        ax.set_title("weak scaling: more ranks, more points")
        ax.loglog([r["global_points"] for r in with_error], [r["l2_relative_error"] for r in with_error], "o-")
        for r in with_error:
            ax.annotate(
                f"{r['ranks']}r",
                (r["global_points"], r["l2_relative_error"]),
                fontsize=8,
                textcoords="offset points",
                xytext=(4, 4),
            )
        ax.set_xlabel("global collocation points")
        ax.set_ylabel("L2 relative error")
    elif with_error:
        ax.set_title("strong scaling: same points, same error expected")
        errors = [r["l2_relative_error"] for r in with_error]
        ax.plot([r["ranks"] for r in with_error], errors, "o-")
        ax.set_ylim(0, 1.3 * max(errors))  # a linear axis from 0: equal errors look equal
        ax.yaxis.set_major_formatter(ScalarFormatter(useMathText=True))
        _ranks_axis(ax)
        ax.set_ylabel("L2 relative error")
    else:
        ax.set_title("L2 relative error")
        ax.text(0.5, 0.5, "no reference solution in the spec", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    ax.grid(True, which="both", alpha=0.3)


PLAIN = FuncFormatter(lambda v, _: f"{v:g}")


def _ranks_axis(ax) -> None:
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(PLAIN)
    ax.set_xlabel("ranks")


def _model(study: dict) -> CostModel | None:
    m = study.get("model")
    if not m:
        return None
    return CostModel(
        m["compute_fixed_seconds"],
        m["compute_seconds_per_point"],
        m["latency_seconds"],
        m["seconds_per_byte"],
        m["gradient_bytes"],
    )


def _points_figure(study: dict) -> plt.Figure:
    rows = [r for r in study["rows"] if r.get("finished")]
    n = np.array([r["global_points"] for r in rows])
    fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(11, 4.5))
    fig.suptitle(
        f"h-analysis of {study['problem']}: {study['seeds']} seeds per point count, "
        f"{study['ranks']} rank(s); dots are single runs"
    )
    _median_band(ax_l, rows, n, "l2", "median", "C0")
    ax_l.set_title("L2 relative error against the reference")
    ax_l.set_ylabel("L2 relative error")
    # the gap as two curves: on a log axis a gap of either sign stays readable
    _median_band(ax_g, rows, n, "train_loss", "on the training points", "C1")
    _median_band(ax_g, rows, n, "test_loss", "on held-out points", "C2")
    ax_g.set_title("generalisation: final loss, training vs held-out points")
    ax_g.set_ylabel("loss (weighted sum of terms)")
    for ax in (ax_l, ax_g):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(PLAIN)
        ax.set_yscale("log")
        ax.set_xlabel("global collocation points (PDE terms)")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _median_band(ax, rows: list[dict], n: np.ndarray, key: str, label: str, color: str) -> None:
    """Median line, interquartile band, and every run as a dot."""
    if not rows or any(r.get(f"{key}_median") is None for r in rows):
        return
    for r in rows:
        ax.plot([r["global_points"]] * len(r[f"{key}_values"]), r[f"{key}_values"], ".", color=color, alpha=0.4)
    ax.fill_between(n, [r[f"{key}_q25"] for r in rows], [r[f"{key}_q75"] for r in rows], color=color, alpha=0.2)
    ax.plot(n, [r[f"{key}_median"] for r in rows], "o-", color=color, label=f"{label} (band: interquartile)")
