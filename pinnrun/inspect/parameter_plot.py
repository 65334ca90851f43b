"""parameters.png: each identified parameter against step, its true value dashed when known."""

from __future__ import annotations

from pathlib import Path

from pinnrun.inspect.loss_plot import mark_phases
from pinnrun.inspect.typed import as_number


def logged_parameters(metrics: list[dict]) -> list[str]:
    """Names of the parameters any metrics record logs, in first-logged order."""
    return list(dict.fromkeys(k for m in metrics for k in (m.get("parameters") or {})))


def plot_parameters(metrics: list[dict], true_values: dict, title: str, out: Path) -> Path:
    """One panel per parameter (their scales differ: a diffusivity of 0.01 beside a speed of 40)."""
    import matplotlib.pyplot as plt

    names = logged_parameters(metrics)
    fig, axs = plt.subplots(
        len(names), 1, figsize=(9, 1.2 + 2.6 * len(names)), sharex=True, layout="constrained", squeeze=False
    )
    steps = [m.get("step") for m in metrics]
    for ax, name in zip(axs[:, 0], names):
        values = [_number((m.get("parameters") or {}).get(name)) for m in metrics]
        ax.plot(steps, values, color="tab:blue", lw=1.4, label="identified", zorder=3)
        true = as_number(true_values.get(name))
        if true is not None:
            ax.axhline(true, color="black", ls="--", lw=1.2, label=f"true value {true:.6g}")
        mark_phases(ax, metrics)
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    axs[-1, 0].set_xlabel("step")
    axs[0, 0].set_title(f"Identified parameters — {title}", pad=16)  # room for the phase names above
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _number(value) -> float:
    """A gap where a record holds no number."""
    number = as_number(value)
    return float("nan") if number is None else number
