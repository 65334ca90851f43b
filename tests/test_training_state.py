"""The training state in one process: snapshots restore bit-identically (Adam and L-BFGS,
mid-phase), checkpoints are written atomically and pruned, stop requests end training at a
chunk, and a non-finite loss ends it as diverged with the parameters of the step before."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import PROBLEMS, small_disk
from pinnrun.results.checkpoints import (
    CheckpointError,
    checkpoint_paths,
    latest_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from pinnrun.results.recorder import Recorder, RecordError, _append, write_json
from pinnrun.results.stop_request import request_stop
from pinnrun.training.comm import LocalComm
from pinnrun.training.digest import digest
from pinnrun.training.hooks import Checkpoints, StopRequests
from pinnrun.training.session import build_session
from pinnrun.training.trainer import Hook, chunk_sizes

SMALL = [
    "network.hidden=[12,12]",
    "network.dtype=float64",
    "training.adam.steps=40",
    "training.lbfgs.steps=30",
    "training.log_every=10",
    "training.checkpoint.every_steps=25",
    "reference=null",
]


def session(*extra):
    return build_session(PROBLEMS / "poisson1d.yaml", LocalComm(), [*SMALL, *extra])


def state_digest(trainer) -> str:
    return digest(v.numpy() for v in trainer.state_variables().values())


class StopAt(Hook):
    """Ends training after the chunk that reaches `step` (as a stop request would)."""

    def __init__(self, step: int):
        self.step = step

    def after_chunk(self, trainer, end):
        if trainer.step >= self.step:
            end.stop = "test"


def test_chunks_end_at_log_and_checkpoint_steps_resumed_or_not():
    assert list(chunk_sizes(0, 40, 10, 0, 25, fresh=True)) == [1, 9, 10, 5, 5, 10]
    # resumed at the checkpoint of step 25: the same calls from there on, no compile step of its own
    assert list(chunk_sizes(25, 40, 10, 0, 25, fresh=False)) == [5, 10]
    # L-BFGS after 40 Adam steps: log steps counted in the phase, checkpoints overall (50, 75)
    assert list(chunk_sizes(0, 30, 10, 40, 25, fresh=True)) == [1, 9, 10, 10]
    assert list(chunk_sizes(0, 30, 10, 40, 7, fresh=True)) == [1, 1, 7, 1, 6, 4, 3, 7]  # ends 2 9 16 23 30 and 10 20


@pytest.mark.slow
@pytest.mark.parametrize("stop_at", [25, 50])  # inside Adam; inside L-BFGS (history, line search state)
def test_a_restored_trainer_ends_bit_identical_to_one_that_never_stopped(stop_at):
    straight = session()
    whole = []
    straight.trainer.run(whole.append)

    first = session()
    part = []
    log = first.trainer.run(part.append, [StopAt(stop_at)])
    assert log.status == "interrupted" and first.trainer.step == stop_at
    arrays, meta = first.trainer.snapshot()
    meta = json.loads(json.dumps(meta))  # as a checkpoint stores it

    second = session()
    second.trainer.restore_variables(arrays)
    second.trainer.restore_progress(meta)
    rest = []
    log = second.trainer.run(rest.append)
    assert log.status == "finished"
    assert state_digest(second.trainer) == state_digest(straight.trainer)
    assert [r["step"] for r in part + rest] == [r["step"] for r in whole]
    assert [r["loss"] for r in part + rest] == [r["loss"] for r in whole]
    assert [p.steps for p in log.phases] == [p.steps for p in straight.trainer.log.phases]


def test_a_snapshot_of_another_network_is_refused_before_anything_changes():
    arrays, _ = session().trainer.snapshot()
    other = session("network.hidden=[8,8]")
    before = state_digest(other.trainer)
    with pytest.raises(ValueError, match="param/0 is float64"):
        other.trainer.restore_variables(arrays)
    assert state_digest(other.trainer) == before


@pytest.mark.slow
def test_checkpoints_are_written_at_multiples_kept_newest_and_read_back(tmp_path):
    s = session("training.checkpoint.every_steps=20", "training.checkpoint.keep=2")
    hook = Checkpoints(tmp_path, s.spec.training.checkpoint, s.comm, {"sampling": {"ranks": 1}})
    s.trainer.run(lambda r: None, [hook])
    assert [step for step, _ in checkpoint_paths(tmp_path)] == [40, 60]  # 20, 40, 60 written; 2 kept
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporary left
    found = latest_checkpoint(tmp_path)
    assert found.step == 60 == found.meta["step"] and found.meta["sampling"] == {"ranks": 1}
    assert hook.save(s.trainer) == "step-0000000070.npz"  # the final state (40 Adam + 30 L-BFGS steps)
    assert hook.save(s.trainer) == "step-0000000070.npz"  # once
    assert [step for step, _ in checkpoint_paths(tmp_path)] == [60, 70]
    assert digest(latest_checkpoint(tmp_path).arrays.values()) == digest(s.trainer.snapshot()[0].values())


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    write_checkpoint(tmp_path, 10, {"a": np.ones(3)}, {"step": 10}, keep=5)
    write_checkpoint(tmp_path, 20, {"a": np.zeros(3)}, {"step": 20}, keep=5)
    (tmp_path / "checkpoints" / "step-0000000020.npz").write_bytes(b"PK\x03\x04 cut short")
    assert latest_checkpoint(tmp_path).step == 10
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_checkpoint(tmp_path / "checkpoints" / "step-0000000020.npz")


@pytest.mark.slow
def test_time_triggers_a_checkpoint_between_step_multiples(tmp_path):
    s = session("training.checkpoint.every_steps=1000", "training.checkpoint.every_minutes=1e-9")
    s.trainer.run(lambda r: None, [Checkpoints(tmp_path, s.spec.training.checkpoint, s.comm, {})])
    assert [step for step, _ in checkpoint_paths(tmp_path)] == [50, 60, 70]  # every chunk; 3 kept


@pytest.mark.slow
def test_a_stop_request_ends_training_after_the_current_chunk(tmp_path):
    s = session()
    request_stop(tmp_path, "SIGTERM")
    request_stop(tmp_path, "SIGINT")  # the first request is the one reported
    log = s.trainer.run(lambda r: None, [StopRequests(tmp_path)])
    assert (log.status, log.stopped_by, s.trainer.step) == ("interrupted", "SIGTERM", 1)


@pytest.mark.slow
def test_a_non_finite_loss_stops_at_that_step_with_the_parameters_before():
    """log(u + 3) is finite until the network's output falls below -3, where the left end pulls it."""
    s = session(
        "pde.poisson=u_xx + pi**2*sin(pi*x) + 0*log(u + 3)",
        "conditions.left.value=-4",
        "training.adam.learning_rate=1e-3",
        "training.adam.steps=400",
        "training.lbfgs=null",
        "training.log_every=1",
    )
    records = []
    log = s.trainer.run(records.append)
    assert log.status == "diverged", records[-1]
    bad = log.diverged
    assert bad is records[-1] and not np.isfinite(bad["loss"]) and not np.isfinite(bad["losses"]["poisson"])
    assert bad["step"] == s.trainer.step + 1  # the step whose loss was not finite: its update not applied
    assert all(np.isfinite(v.numpy()).all() for v in s.trainer.state_variables().values())
    assert all(np.isfinite(r["loss"]) for r in records[:-1])


def test_a_failed_checkpoint_write_leaves_no_partial_file(tmp_path):
    (tmp_path / "checkpoints").write_text("a file where the folder belongs")
    with pytest.raises(CheckpointError, match="cannot write checkpoint"):
        write_checkpoint(tmp_path, 5, {"a": np.ones(2)}, {}, keep=1)


@pytest.fixture
def full_disk(tmp_path):
    with small_disk(tmp_path / "full", "64k") as mount:
        yield mount


def test_a_full_disk_leaves_whole_lines_and_no_temporary_files(full_disk):
    metrics = full_disk / "metrics.jsonl"
    _append(metrics, {"step": 1, "loss": 0.5})
    before = metrics.read_bytes()
    with open(full_disk / "filler", "wb") as f:  # fill what is left
        try:
            f.write(b"x" * 200_000)
        except OSError:
            pass
    with pytest.raises(RecordError, match="No space left on device"):
        _append(metrics, {"step": 2, "loss": 0.25, "pad": "y" * 8000})
    assert metrics.read_bytes() == before  # no half line
    with pytest.raises(RecordError, match="cannot write .*summary.json: No space left"):
        write_json(full_disk / "summary.json", {"pad": "z" * 8000})
    with pytest.raises(CheckpointError, match="No space left"):
        write_checkpoint(full_disk, 7, {"a": np.ones(4000)}, {}, keep=2)
    assert sorted(p.name for p in full_disk.rglob("*")) == ["checkpoints", "filler", "metrics.jsonl"]
    # TensorBoard's writer raises TensorFlow's own error (ResourceExhaustedError): one line too, found in
    # CI, where rank 0 died of it while the other rank failed in its next collective with a traceback
    record = {"phase": "adam", "step": 1, "loss": 0.5, "losses": {"pde": 0.5}, "lr": 1e-3}
    with pytest.raises(RecordError, match="cannot write .*tensorboard: No space left on device"):
        Recorder(full_disk, True).replay_tensorboard([{**record, "step": k} for k in range(1, 2000)])


def test_a_finite_loss_beyond_float32_is_recorded_not_refused(tmp_path):
    """TensorBoard's scalars were float32: a loss of 1e300 raised a ValueError mid-run."""

    Recorder(tmp_path, True).metric(
        {
            "phase": "adam",
            "step": 1,
            "loss": 1e300,
            "losses": {"pde": 1e300},
            "lr": 1e-3,
            "rank_losses": [[1e300]],
            "elapsed": 0.1,
        }
    )
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["loss"] == 1e300
    assert list((tmp_path / "tensorboard").glob("events.*"))


@pytest.mark.slow
def test_a_failed_write_on_rank_0_stops_every_rank_at_the_next_chunk():
    from pinnrun.training.hooks import WriteFailures

    s = session()
    failures = WriteFailures()
    logged = []

    def record(r):
        logged.append(r["step"])
        if r["step"] == 10:
            failures.failed(RecordError("cannot write metrics.jsonl: No space left on device"))

    with pytest.raises(RecordError, match="No space left on device"):
        s.trainer.run(record, [failures])
    assert logged == [1, 10, 20]  # raised in the gather after the failed write, on every rank alike


@pytest.mark.slow
def test_a_checkpoint_at_a_phase_s_last_step_holds_that_phase_s_end(tmp_path):
    """Stopped right at the end of Adam: the checkpoint there has Adam's digests, so the resumed
    run reports the phase it never runs again."""
    from pinnrun.training.hooks import PhaseDigests

    s = session("training.checkpoint.every_steps=40")
    hook = Checkpoints(tmp_path, s.spec.training.checkpoint, s.comm, {})
    log = s.trainer.run(lambda r: None, [hook, StopAt(40), PhaseDigests(s.comm)])
    assert log.status == "interrupted" and s.trainer.step == 40
    assert list(latest_checkpoint(tmp_path).meta["extra"]["digests"]) == ["adam"]


def test_tensorboard_holds_real_scalars_tensorboard_reads(tmp_path):
    """What TensorBoard's own reader (EventAccumulator) sees as scalars: losses, the L2 error (combined
    and per output), learning rate, parameters, balanced weights, the causal weight and the ranks'
    loss spread."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    record = {
        "phase": "adam",
        "step": 100,
        "loss": 0.5,
        "losses": {"pde": 0.3, "bc": 0.2},
        "lr": 1e-3,
        "rank_losses": [[0.4, 0.2], [0.2, 0.2]],
        "l2_relative_error": 0.02,
        "l2_relative_errors": {"u": 0.01, "v": 0.03},
        "parameters": {"D": 0.11},
        "weights": {"pde": 1.0, "bc": 4.0},
        "causal_weight": 0.25,
        "elapsed": 1.0,
    }
    rec = Recorder(tmp_path, True)
    rec.metric(record)
    rec.metric({**record, "step": 200, "loss": 0.25, "l2_relative_error": None, "l2_relative_errors": {}})
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    assert scalars["loss/total"] == [(100, 0.5), (200, 0.25)]
    assert scalars["error/l2"] == [(100, pytest.approx(0.02))]  # only where it was evaluated
    assert scalars["error/l2/v"] == [(100, pytest.approx(0.03))]
    assert scalars["loss/rank_spread"][0] == (100, pytest.approx(0.2 / 0.5))
    assert {"loss/pde", "loss/bc", "learning_rate", "parameter/D", "weight/bc", "causal_weight"} <= set(scalars)
