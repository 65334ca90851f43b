"""`pinnrun inspect` on run folders written by hand: per-output L2 errors, identified parameters
(text, --json, parameters.png), solution plots of non-box domains and scattered references,
and the same fields holding the wrong types (shown, never a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from pinnrun.inspect.command import inspect

pytest.importorskip("matplotlib")

SUMMARY = {
    "status": "finished",
    "problem": "inverse",
    "ranks": 2,
    "scaling": "weak",
    "final_loss": 1e-5,
    "final_losses": {"pde": 6e-6, "obs": 4e-6},
    "l2_relative_error": 1.5e-3,
    "l2_relative_errors": {"u": 1e-3, "v": 2e-3},
    "parameters": {
        "k": {"initial": 0.5, "value": 0.1002, "true_value": 0.1, "relative_error": 2e-3},
        "c": {"initial": 1.0, "value": 3.25, "true_value": None, "relative_error": None},
    },
}


def metric(step: int, k: float, phase: str = "adam") -> dict:
    return {
        "step": step,
        "phase": phase,
        "loss": 1.0 / step,
        "losses": {"pde": 0.5 / step, "obs": 0.5 / step},
        "l2_relative_error": 0.1 / step,
        "l2_relative_errors": {"u": 0.1 / step, "v": 0.2 / step},
        "parameters": {"k": k, "c": 1.0 + step / 10},
    }


def run_folder(
    base: Path, name: str = "run", summary: dict | None = SUMMARY, metrics=None, spec: str | None = None
) -> Path:
    run = base / name
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"command": "pinnrun train inverse.yaml --np 2", "ranks": 2}))
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    records = metrics if metrics is not None else [metric(s, 0.5 - 0.04 * s) for s in (1, 2, 5, 10)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in records))
    if spec is not None:
        (run / "spec.yaml").write_text(spec)
    return run


def text_view(path: Path, plot: bool = False) -> str:
    console = Console(record=True, width=200, color_system=None)
    assert inspect([str(path)], plot, False, "name", console) == 0
    # each line with its runs of spaces as one: the label column's width depends on the longest label
    return "\n".join(" ".join(line.split()) for line in console.export_text().splitlines()) + "\n"


def json_view(path: Path, capsys, plot: bool = False) -> dict:
    capsys.readouterr()
    assert inspect([str(path)], plot, True, "name", Console()) == 0
    return json.loads(capsys.readouterr().out)


def test_per_output_errors_and_parameters_in_the_text_view(tmp_path):
    out = text_view(run_folder(tmp_path))
    assert "L2 relative error 1.500e-03 (u 1.000e-03, v 2.000e-03)" in out
    assert "parameter k 0.1002 (initial 0.5, true 0.1, relative error 2.000e-03)" in out
    assert "parameter c 3.25 (initial 1)" in out


def test_per_output_errors_and_parameters_in_json(tmp_path, capsys):
    d = json_view(run_folder(tmp_path), capsys)
    assert d["l2_relative_errors"] == {"u": 1e-3, "v": 2e-3}
    assert d["parameters"]["k"] == SUMMARY["parameters"]["k"]
    assert d["parameters"]["c"] == {"initial": 1.0, "value": 3.25, "true_value": None, "relative_error": None}
    assert d["last_logged"]["parameters"] == pytest.approx({"k": 0.1, "c": 2.0})
    assert "parameters" not in d["more"] and "l2_relative_errors" not in d["more"]  # shown in their own place


def test_a_running_run_shows_the_last_logged_parameters(tmp_path):
    out = text_view(run_folder(tmp_path, summary=None))
    assert "parameter k 0.1 (last logged)" in out
    assert "parameter c 2 (last logged)" in out


@pytest.mark.parametrize(
    "summary_fields,shown",
    [
        ({"parameters": "k=0.1"}, None),
        ({"parameters": {"k": "0.1"}}, "parameter k - (initial -)"),
        ({"parameters": {"k": {"value": [1], "initial": True, "true_value": "x"}}}, "parameter k - (initial -)"),
        ({"l2_relative_errors": {"u": "small", "v": 2e-3}}, "L2 relative error 1.500e-03 (u -, v 2.000e-03)"),
        ({"l2_relative_errors": [1e-3]}, "L2 relative error 1.500e-03\n"),
    ],
    ids=["parameters-text", "parameter-text", "parameter-fields-wrong", "error-text", "errors-list"],
)
def test_wrong_types_are_shown_not_raised(tmp_path, capsys, summary_fields, shown):
    run = run_folder(tmp_path, summary={**SUMMARY, **summary_fields}, metrics=[metric(1, 0.4)])
    out = text_view(run)
    assert "Traceback" not in out and "broken" not in out
    if shown:
        assert shown in out
    json_view(run, capsys)  # and --json still one object


def test_metrics_records_with_malformed_parameters_are_skipped_with_a_note(tmp_path, capsys):
    records = [
        metric(1, 0.4),
        {**metric(2, 0.3), "parameters": {"k": "x"}},
        {**metric(3, 0.2), "parameters": [1]},
        {**metric(4, 0.1), "l2_relative_errors": "u"},
        metric(5, 0.05),
    ]
    d = json_view(run_folder(tmp_path, summary=None, metrics=records), capsys)
    assert [row[0] for row in d["loss_curve"]] == [1, 5]
    assert "metrics.jsonl: 3 record(s) of the wrong shape skipped" in d["notes"]


SPEC = """name: inverse
variables: {space: [x, y]}
outputs: [u]
parameters:
  k: {initial: 0.5, true_value: 0.1}
"""


@pytest.mark.slow
def test_parameter_plot_with_the_true_value_from_the_summary_or_the_spec(tmp_path, capsys, monkeypatch):
    import pinnrun.inspect.parameter_plot as parameter_plot

    drawn = {}
    real = parameter_plot.plot_parameters

    def spy(metrics, true_values, title, out):
        drawn[out.parent.name] = dict(true_values)
        return real(metrics, true_values, title, out)

    monkeypatch.setattr(parameter_plot, "plot_parameters", spy)
    finished = run_folder(tmp_path, "finished")
    d = json_view(finished, capsys, plot=True)
    assert str(finished / "parameters.png") in d["plots"] and (finished / "parameters.png").stat().st_size > 10_000
    assert drawn["finished"] == {"k": 0.1}
    running = run_folder(tmp_path, "running", summary=None, spec=SPEC)  # no summary yet: the spec says
    json_view(running, capsys, plot=True)
    assert drawn["running"] == {"k": 0.1} and (running / "parameters.png").is_file()
    plain = run_folder(
        tmp_path,
        "plain",
        summary={k: v for k, v in SUMMARY.items() if k != "parameters"},
        metrics=[{k: v for k, v in metric(s, 0).items() if k != "parameters"} for s in (1, 2)],
    )
    d = json_view(plain, capsys, plot=True)
    assert not (plain / "parameters.png").exists() and not any("parameter" in n for n in d["notes"])


@pytest.mark.slow
def test_solution_plot_blanks_the_points_outside_an_l_shape(tmp_path, capsys, monkeypatch):
    import pinnrun.inspect.solution_plot as solution_plot

    x = y = np.linspace(0, 1, 21)
    X, Y = np.meshgrid(x, y, indexing="ij")
    inside = ~((X > 0.5) & (Y > 0.5))
    u = np.sin(np.pi * X) * Y
    run = run_folder(tmp_path, spec=SPEC)
    np.savez(
        run / "predictions.npz", x=x, y=y, u=u * 1.01, u_reference=u, inside_domain=inside, is_scattered=np.array(False)
    )
    seen = {}
    real = solution_plot._heat_maps

    def spy(axes, out, pred, ref, problem, where, path):
        seen.update(pred=pred, ref=ref)
        return real(axes, out, pred, ref, problem, where, path)

    monkeypatch.setattr(solution_plot, "_heat_maps", spy)
    d = json_view(run, capsys, plot=True)
    assert str(run / "solution_u.png") in d["plots"], d["notes"]
    np.testing.assert_array_equal(np.isnan(seen["pred"]), ~inside)
    np.testing.assert_array_equal(np.isnan(seen["ref"]), ~inside)


@pytest.mark.slow
@pytest.mark.parametrize("inputs", [["x"], ["x", "y"], ["x", "y", "t"]])
def test_solution_plot_of_scattered_points(tmp_path, capsys, inputs):
    rng = np.random.default_rng(0)
    coords = {name: rng.random(200) for name in inputs}
    u = np.sin(np.pi * coords["x"]) * sum(coords.values())
    space, time = [i for i in inputs if i != "t"], ", time: t" if "t" in inputs else ""
    run = run_folder(tmp_path, spec=SPEC.replace("{space: [x, y]}", f"{{space: [{', '.join(space)}]{time}}}"))
    np.savez(
        run / "predictions.npz",
        **coords,
        u=u + 1e-3,
        u_reference=u,
        inside_domain=np.ones(200, bool),
        is_scattered=np.array(True),
    )
    d = json_view(run, capsys, plot=True)
    assert str(run / "solution_u.png") in d["plots"], d["notes"]
    assert (run / "solution_u.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_wrong_mask_is_noted_and_the_whole_grid_drawn(tmp_path, capsys):
    x = y = np.linspace(0, 1, 5)
    run = run_folder(tmp_path, spec=SPEC)
    np.savez(run / "predictions.npz", x=x, y=y, u=np.ones((5, 5)), inside_domain=np.ones(3))
    d = json_view(run, capsys, plot=True)
    assert str(run / "solution_u.png") in d["plots"]
    assert "predictions.npz: inside_domain is not a (5, 5) mask of booleans: the whole grid is drawn" in d["notes"]
