"""loss.png: each loss term and the total against step, log scale, optimizer phases marked."""

from __future__ import annotations

from pathlib import Path

PHASE_LABELS = {"adam": "Adam", "lbfgs": "L-BFGS"}


def plot_loss(metrics: list[dict], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    steps = [m.get("step") for m in metrics]
    fig, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    terms = list(dict.fromkeys(k for m in metrics for k in (m.get("losses") or {})))
    for term in terms:
        ax.plot(steps, [_positive((m.get("losses") or {}).get(term)) for m in metrics], lw=1.2, label=term, zorder=3)
    # the total underneath, wide and pale: with one term the two curves coincide and both stay visible
    ax.plot(
        steps,
        [_positive(m.get("loss")) for m in metrics],
        color="black",
        lw=3.5,
        alpha=0.35,
        zorder=2,
        label="total (weighted sum)",
    )
    ax.set_yscale("log")
    mark_phases(ax, metrics)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (mean over all ranks' points)")
    ax.set_title(f"Training loss per term — {title}", pad=16)  # room for the phase names above the plot
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")  # outside: never over the curves
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def mark_phases(ax, metrics: list[dict]) -> None:
    """Shade every phase after the first and name each, above the plot, where it starts (Adam → L-BFGS)."""
    starts = []
    for m in metrics:
        if not starts or m.get("phase") != starts[-1][1]:
            starts.append((m.get("step"), m.get("phase")))
    last = metrics[-1].get("step")
    for i, (step, phase) in enumerate(starts):
        if i:
            ax.axvline(step, color="grey", ls="--", lw=1)
            end = starts[i + 1][0] if i + 1 < len(starts) else last
            ax.axvspan(step, end, color="grey", alpha=0.08, lw=0)
        ax.annotate(
            PHASE_LABELS.get(phase, str(phase)),
            xy=(step, 1),
            xycoords=("data", "axes fraction"),
            xytext=(2, 3),
            textcoords="offset points",
            fontsize="small",
            color="dimgrey",
            va="bottom",
        )


def _positive(value):
    """Log scale: zero or missing values leave a gap instead of an error."""
    return value if isinstance(value, (int, float)) and value > 0 else float("nan")
