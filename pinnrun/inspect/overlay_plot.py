"""`pinnrun inspect RUN_A RUN_B ... --plot`: the runs' loss and L2 error curves overlaid, one colour
per run, against step (log scales), so settings can be compared at a glance."""

from __future__ import annotations

from pathlib import Path

from pinnrun.inspect.read import RunFiles


def plot_overlay(runs: list[tuple[str, RunFiles]], out: Path) -> Path:
    """`runs`: (label, files) in the order given. Written to a temporary name and renamed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    for label, files in runs:
        loss = [(m["step"], m["loss"]) for m in files.metrics if _positive(m.get("loss"))]
        error = [(m["step"], m["l2_relative_error"]) for m in files.metrics if _positive(m.get("l2_relative_error"))]
        (line,) = ax_loss.plot(*zip(*loss), lw=1.3, label=label) if loss else ax_loss.plot([], [], label=label)
        if error:
            ax_err.plot(*zip(*error), lw=1.3, color=line.get_color(), label=label)
    for ax, what in ((ax_loss, "total loss"), (ax_err, "L2 relative error")):
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(what)
        ax.grid(True, which="major", alpha=0.3)
    ax_loss.set_title("Training loss")
    ax_err.set_title("L2 relative error (where the run evaluated it)")
    ax_loss.legend(fontsize="small")
    tmp = out.with_name(f".{out.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=110)
        tmp.replace(out)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return out


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 and value < float("inf")
