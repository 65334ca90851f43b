"""`pinnrun export`: a run's trained model as a TensorFlow SavedModel that loads without pinnrun.

The model serves `names` (default: the outputs and derived quantities; derivatives and
expressions as `predict` takes them) at points given as one (n, inputs) tensor, columns in input
order. The folder describes itself: `tf.saved_model.load(dir)` has `inputs` and `names` (string
variables) beside `predict`; the `serving_default` signature returns one (n,) tensor per name
(for TF Serving and `saved_model_cli`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import tensorflow as tf

from pinnrun.errors import PinnrunError
from pinnrun.results.quantities import Quantities
from pinnrun.results.trained import TrainedModel, load_run

ABOUT = "pinnrun-export.json"  # beside the SavedModel: what it serves, for people and scripts


class Served(tf.Module):
    def __init__(self, model: TrainedModel, names):
        super().__init__(name="pinnrun_model")
        self.net, self.unknowns = model.net, model.parameters  # tracked: their variables are saved
        self.quantities = Quantities(model.problem, model.net, model.parameters, names)
        self.inputs = tf.Variable(list(model.inputs), trainable=False, name="inputs")
        self.names = tf.Variable(list(self.quantities.names), trainable=False, name="names")
        spec = tf.TensorSpec([None, len(model.inputs)], model.net.dtype, name="points")
        self.predict = tf.function(self.quantities.evaluate, input_signature=[spec], autograph=False)
        self.serve = tf.function(self._by_name, input_signature=[spec], autograph=False)

    def _by_name(self, points: tf.Tensor) -> dict:
        values = self.quantities.evaluate(points)
        return {name: values[:, i] for i, name in enumerate(self.quantities.names)}


def export(run_dir: str, out: str | None, names: list[str] | None, echo) -> int:
    target = Path(out) if out else Path(run_dir) / "export"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise PinnrunError(f"--out {target}: exists and is not empty; choose another folder")
    model = load_run(run_dir)
    served = Served(model, names)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tf.saved_model.save(served, str(tmp), signatures={"serving_default": served.serve})
        about = {
            "inputs": list(model.inputs),
            "names": list(served.quantities.names),
            "dtype": model.net.dtype.name,
            "step": model.step,
            "run": str(Path(run_dir).resolve()),
            "input_box": [list(b) for b in model.problem.input_box],
            "parameters": model.parameter_values(),
        }
        (tmp / ABOUT).write_text(json.dumps(about, indent=2) + "\n")
        if target.exists():
            target.rmdir()  # empty (checked above)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    echo(
        f"SavedModel of {run_dir} (step {model.step}): {', '.join(served.quantities.names)} "
        f"at points ({', '.join(model.inputs)}) -> {target}"
    )
    return 0
