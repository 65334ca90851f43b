"""`--plot`: the PNGs written into a run folder, and why any was not."""

from __future__ import annotations

from pinnrun.inspect.read import RunFiles
from pinnrun.results.files import PREDICTIONS


def write_plots(files: RunFiles, content: dict) -> tuple[list[str], list[str]]:
    """(paths written, notes). Matplotlib is imported only here, with the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    from pinnrun.inspect.loss_plot import plot_loss
    from pinnrun.inspect.parameter_plot import logged_parameters, plot_parameters
    from pinnrun.inspect.solution_plot import plot_solutions

    written, notes = [], []
    title = _title(content)
    if len(files.metrics) >= 2:
        written.append(str(plot_loss(files.metrics, title, files.path / "loss.png")))
    else:
        notes.append("fewer than two logged steps: no loss plot")
    if logged_parameters(files.metrics):
        if len(files.metrics) >= 2:
            path = plot_parameters(files.metrics, _true_values(files, content), title, files.path / "parameters.png")
            written.append(str(path))
        else:
            notes.append("fewer than two logged steps: no parameter plot")
    predictions = files.path / PREDICTIONS
    if not predictions.is_file():
        notes.append("no predictions.npz (the run did not finish): no solution plot")
    elif not files.spec or not files.spec.get("inputs"):
        notes.append("spec.yaml missing or unreadable: inputs unknown, no solution plot")
    else:
        paths, more = plot_solutions(predictions, files.spec, content.get("problem") or "?", files.path)
        written += map(str, paths)
        notes += more
    return written, notes


def _true_values(files: RunFiles, content: dict) -> dict:
    """Parameter -> true value: the summary's, else the spec's (a run still going has no summary)."""
    true = dict((files.spec or {}).get("true_values") or {})
    for name, p in (content.get("parameters") or {}).items():
        if p.get("true_value") is not None:
            true[name] = p["true_value"]
    return true


def _title(content: dict) -> str:
    ranks = content.get("ranks")
    return (
        f"{content.get('problem') or '?'}"
        + (f", {ranks} rank{'s' if ranks != 1 else ''}" if ranks else "")
        + (f", {content['scaling']} scaling" if content.get("scaling") else "")
        + f" ({content['status']})"
    )
