"""pinnrun from Python (a script or a notebook): docs/api.md.

    from pinnrun.api import load_run, train, read_run
    model = load_run("runs/burgers-20261207-101500")      # a run folder's trained model
    u = model.predict({"x": x, "t": t}, ["u", "u_x"])     # any output, derivative or expression
    model = train("problems/poisson1d.yaml", overrides=["training.adam.steps=500"])  # in this process

Everything here is one process (LocalComm): multi-rank training is `pinnrun train`. Importing this
module turns TensorFlow's start-up chatter off (set TF_CPP_MIN_LOG_LEVEL yourself to keep it)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from pinnrun.quiet import quiet_tensorflow

quiet_tensorflow()

from pinnrun.errors import PinnrunError  # noqa: E402
from pinnrun.inspect.read import RunFiles, is_run_dir, read_run as _read_run  # noqa: E402
from pinnrun.results.trained import TrainedModel, load_run  # noqa: E402

__all__ = ["TrainedModel", "PinnrunError", "load_run", "train", "read_run", "RunFiles"]


def train(
    spec: str | Path, overrides: Sequence[str] = (), on_record: Callable[[dict], None] | None = None
) -> TrainedModel:
    """Train `spec` (with `--set`-style overrides) in this process, on one rank, and return the
    trained model; `on_record` gets each logged step's record as it comes (metrics.jsonl's fields but
    the L2 error, which `model.l2_errors()` gives at the end).
    Nothing is written: for a run folder, checkpoints and several ranks use `pinnrun train`.
    `model.records` keeps the records, `model.log` the phases' statistics."""
    from pinnrun.problem.build import load_problem
    from pinnrun.training.comm import LocalComm
    from pinnrun.training.session import build_session

    loaded, _ = load_problem(spec, list(overrides))  # every check `pinnrun train` makes first
    session = build_session(loaded, LocalComm())
    records: list[dict] = []

    def log(record: dict) -> None:
        records.append(record)
        if on_record is not None:
            on_record(record)

    training_log = session.train(log)
    model = TrainedModel(session.loaded, session.problem, session.net, session.parameters, session.trainer.step)
    model.records, model.log = records, training_log
    return model


def read_run(run_dir: str | Path) -> RunFiles:
    """A run folder's records as `pinnrun inspect` reads them: `.summary` (summary.json), `.run`,
    `.env`, `.events`, `.metrics` (lists of dicts), `.notes` (what could not be read)."""
    path = Path(run_dir)
    if not is_run_dir(path):
        raise PinnrunError(f"{run_dir}: not a run folder (no run.json, summary.json or events.jsonl)")
    return _read_run(path)
