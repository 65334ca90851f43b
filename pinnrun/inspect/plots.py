"""`--plot`: the PNGs written into a run folder, and why any was not."""
from __future__ import annotations

from pinnrun.inspect.read import RunFiles


def write_plots(files: RunFiles, content: dict) -> tuple[list[str], list[str]]:
    """(paths written, notes). Matplotlib is imported only here, with the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    from pinnrun.inspect.loss_plot import plot_loss
    from pinnrun.inspect.solution_plot import plot_solutions

    written, notes = [], []
    title = _title(content)
    if len(files.metrics) >= 2:
        written.append(str(plot_loss(files.metrics, title, files.path / "loss.png")))
    else:
        notes.append("fewer than two logged steps: no loss plot")
    predictions = files.path / "predictions.npz"
    if not predictions.is_file():
        notes.append("no predictions.npz (the run did not finish): no solution plot")
    elif not files.spec or not files.spec.get("inputs"):
        notes.append("spec.yaml missing or unreadable: inputs unknown, no solution plot")
    else:
        paths, more = plot_solutions(predictions, files.spec, content.get("problem") or "?", files.path)
        written += map(str, paths)
        notes += more
    return written, notes


def _title(content: dict) -> str:
    ranks = content.get("ranks")
    return (f"{content.get('problem') or '?'}"
            + (f", {ranks} rank{'s' if ranks != 1 else ''}" if ranks else "")
            + (f", {content['scaling']} scaling" if content.get("scaling") else "")
            + f" ({content['status']})")
