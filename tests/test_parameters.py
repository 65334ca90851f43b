"""Unknown parameters: their constraints, their training beside the network, and where
their values are reported (metrics.jsonl, TensorBoard, the progress line, summary.json)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from helpers import PROBLEMS
from pinnrun.launch.progress import parameters_text
from pinnrun.model.parameters import Parameters
from pinnrun.results.recorder import Recorder
from pinnrun.spec.schema import Parameter
from pinnrun.training.comm import LocalComm
from pinnrun.training.session import build_session


@pytest.mark.parametrize(
    "spec, outside",
    [
        (Parameter(initial=0.3), None),
        (Parameter(initial=0.3, positive=True), 0.0),
        (Parameter(initial=0.3, bounds=(0.1, 2.0)), (0.1, 2.0)),
    ],
)
def test_a_parameter_starts_at_its_initial_value_and_keeps_its_constraint(spec, outside):
    params = Parameters({"k": spec}, "float64")
    assert params.numpy()["k"] == pytest.approx(0.3, rel=1e-14)
    for raw in (-50.0, 50.0):  # wherever the optimiser drives the raw variable
        params.raw[0].assign(raw)
        value = params.numpy()["k"]
        if isinstance(outside, tuple):
            assert outside[0] <= value <= outside[1]
        elif outside is not None:
            assert value > outside


def test_report_gives_the_relative_error_against_the_true_value():
    params = Parameters(
        {"D": Parameter(initial=0.5, positive=True, true_value=0.1), "c": Parameter(initial=1.0)}, "float64"
    )
    params.raw[0].assign(np.log(0.11))
    report = params.report()
    assert report["D"]["value"] == pytest.approx(0.11) and report["D"]["relative_error"] == pytest.approx(0.1)
    assert report["c"] == {"initial": 1.0, "value": 1.0, "true_value": None, "relative_error": None}


@pytest.mark.slow
def test_the_inverse_problem_learns_its_parameter_in_one_process(tmp_path):
    """A short local training moves D from 0.5 toward the 0.1 that made the data, and every
    logged record carries it; the recorder puts it in metrics.jsonl and TensorBoard."""
    session = build_session(
        PROBLEMS / "inverse_diffusion.yaml",
        LocalComm(),
        [
            "training.adam.steps=300",
            "training.lbfgs=null",
            "training.log_every=100",
            "training.adam.learning_rate=0.01",
            "reference=null",
        ],
    )
    assert session.variables[-1] is session.parameters.raw[0]  # trained with the network's weights
    recorder = Recorder(tmp_path, True)
    records = []
    session.trainer.run(lambda r: (records.append(r), recorder.metric(r)))
    path = [r["parameters"]["D"] for r in records]
    assert len(path) == 4 and path[-1] < path[0] < 0.5
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["parameters"]["D"] for r in lines] == pytest.approx(path)
    progress = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["parameters"]["D"] for e in progress] == pytest.approx(path)
    tensorboard = sorted((tmp_path / "tensorboard").glob("events.*"))
    logged = [
        v.simple_value if v.HasField("simple_value") else float(tf.make_ndarray(v.tensor))
        for f in tensorboard
        for e in tf.compat.v1.train.summary_iterator(str(f))
        for v in e.summary.value
        if v.tag == "parameter/D"
    ]
    assert logged == pytest.approx(path, rel=1e-6)


def test_progress_line_shows_parameters():
    assert parameters_text({"D": 0.1021437, "k": 2.5}) == "D=0.1021 k=2.5"
    assert parameters_text(None) == "" and parameters_text({"D": None}) == "D=-"
