"""One rank of a training run: `python -m pinnrun.worker RUN_DIR`.

Started by the launcher under horovodrun / mpirun / srun. Loads the resolved
spec from the run folder, samples its own shard, trains, and (rank 0) writes
the results.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pinnrun.errors import one_line  # noqa: E402
from pinnrun.launch.lifeline import LAUNCHER_GONE_EXIT, launcher_died, record_dead, watch_launcher  # noqa: E402
from pinnrun.results import strict_json  # noqa: E402
from pinnrun.results.checkpoints import CheckpointError, in_run, latest_checkpoint  # noqa: E402
from pinnrun.results.failures import record_failure  # noqa: E402
from pinnrun.results.outcomes import DIVERGED, interrupted_exit  # noqa: E402
from pinnrun.results.recorder import Recorder, RecordError, cut_metrics  # noqa: E402
from pinnrun.results.solution import Solution  # noqa: E402
from pinnrun.results.summary import build_summary, point_counts  # noqa: E402
from pinnrun.sampling.holdout import sample_holdout  # noqa: E402
from pinnrun.training.comm import open_comm  # noqa: E402
from pinnrun.training.digest import digest  # noqa: E402,F401 - tests and scripts take it from here
from pinnrun.training.hooks import Checkpoints, Commits, PhaseDigests, StopRequests, WriteFailures  # noqa: E402
from pinnrun.training.losses import LossTerms  # noqa: E402
from pinnrun.training.placement import claim_devices  # noqa: E402
from pinnrun.training.probe import measure_step_costs  # noqa: E402
from pinnrun.training.session import Session, build_session  # noqa: E402
from pinnrun.results.files import ENV, METRICS, PREDICTIONS, SPEC, SUMMARY  # noqa: E402

ROLLED_BACK = "metrics-rolled-back.jsonl"  # records an elastic reset took back (redone after it)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(run_dir: Path, probe: bool = False, resume: bool = False, elastic: bool = False) -> int:
    # The launcher asks for a clean stop through the run folder (results/stop_request.py); a signal
    # reaching a rank directly is the hard way, taken when the launcher gave up waiting.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    started = time.perf_counter()
    comm = open_comm()
    device = claim_devices(comm)
    watch_launcher(run_dir, comm.rank)  # heartbeat; stops the rank if its launcher dies
    rec = Recorder(run_dir, comm.rank == 0)
    checkpoints = None
    try:
        # elastic: no collective before the elastic loop (a rank joining later would wait in it alone)
        session = build_session(run_dir / SPEC, comm, broadcast=not elastic)
        spec, problem, net = session.spec, session.problem, session.net
        trainer = session.trainer
        checkpoints = Checkpoints(run_dir, spec.training.checkpoint, comm, {"sampling": _sampling(session)})
        resumed = (_resume_each(session, run_dir) if elastic else _resume(session, run_dir, rec)) if resume else None
        solutions = {}  # rank 0's, made when this process is rank 0 (under elastic, rank 0 can change)

        def solution():
            if comm.rank == 0 and "rank 0" not in solutions:
                solutions["rank 0"] = Solution(
                    problem, spec.reference, session.loaded.path.parent, net, session.parameters
                )
            return solutions.get("rank 0") if comm.rank == 0 else None

        write_failures = WriteFailures()

        def record(metric: dict) -> None:
            if solution() is not None:  # the error curve: when did training reach a given accuracy?
                metric.update(solution().error_curve_fields())
            try:
                rec.metric(metric)
            except RecordError as err:  # every rank stops with it at the next chunk (hooks.WriteFailures)
                write_failures.failed(err)

        entries = []

        def begin() -> None:
            """Each time training (re)starts: the ranks as they are now, in env.json and the events."""
            rec.enabled = comm.rank == 0
            devices = comm.allgather_object(device)
            rec.write_json(ENV, _environment(devices))
            counts = point_counts(problem, session.batches)
            if entries:  # an elastic reset: back to the last commit, on another set of ranks
                if rec.enabled:
                    cut_metrics(run_dir / METRICS, trainer.step, run_dir / ROLLED_BACK)
                rec.event("resized", ranks=comm.size, step=trainer.step, points=counts)
            else:
                lbfgs_steps = spec.training.lbfgs.steps if spec.training.lbfgs else 0
                rec.event(
                    "start",
                    ranks=comm.size,
                    scaling=spec.scaling,
                    points=counts,
                    total_steps=spec.training.adam.steps + lbfgs_steps,
                    phases={"adam": spec.training.adam.steps, "lbfgs": lbfgs_steps},
                    **({"resumed_from": resumed} if resumed else {}),
                    **({"elastic": True} if elastic else {}),
                )
            entries.append(comm.size)

        hooks = [write_failures, checkpoints, StopRequests(run_dir), PhaseDigests(comm)]
        if elastic:

            def reset() -> None:
                session.reshard()
                checkpoints.meta["sampling"] = _sampling(session)

            def train(commit):
                begin()
                return session.train(record, [*hooks, Commits(commit)])

            log = comm.elastic_run(
                train, list(trainer.state_variables().values()), trainer.progress, trainer.restore_progress, reset
            )
        else:
            begin()
            log = session.train(record, hooks)
        points = session.batches
        counts = point_counts(problem, points)
        if log.status == "diverged":
            return _diverged(rec, log.diverged, checkpoints, started)
        saved = checkpoints.save(trainer)  # the final state (or the state where the ranks were stopped)
        if log.status == "interrupted":
            return _interrupted(rec, log.stopped_by, saved, trainer.step, started)
        point_digests = comm.allgather_object({name: digest([p.x]) for name, p in points.items()})
        train_loss = _global_loss(trainer.losses, comm)
        test_loss = _global_loss(
            LossTerms(
                problem,
                sample_holdout(problem, comm.rank, comm.size, spec.scaling),
                net,
                session.parameters,
                trainer.losses.micro_batch,
            ),
            comm,
        )
        costs = measure_step_costs(session) if probe else None
        if comm.rank == 0:
            final = solution()
            l2, l2_per_output = final.save(run_dir / PREDICTIONS)
            digests = trainer.extra.get("digests", {})
            in_sync = all(len(set(d)) == 1 for d in digests.values())
            summary = build_summary(
                problem, spec.scaling, comm.size, counts, log, time.perf_counter() - started, l2, in_sync
            )
            summary["l2_relative_errors"] = l2_per_output
            # rank 0's: strong-scaling ranks one point apart may differ by one micro-batch
            summary["micro_batches"] = {"count": trainer.losses.micro_batches, "points": trainer.losses.micro_batch}
            summary.update(_generalisation(train_loss, test_loss))
            if session.balancing is not None:
                summary["loss_weights"] = dict(zip(trainer.losses.names, map(float, trainer.losses.weights.numpy())))
            if session.adaptive is not None:
                summary["adapt"] = {
                    "method": spec.sampling.adapt.method,
                    "terms": list(session.adaptive.terms),
                    "rounds": int(session.adaptive.rounds.numpy()),
                }
            if problem.parameters:
                summary["parameters"] = session.parameters.report()
            if costs:
                summary["step_costs"] = costs
                summary["allreduce_share"] = _allreduce_share(costs, summary["seconds_per_step"], comm.size)
            summary["param_digests"] = digests
            summary["point_digests"] = point_digests
            summary["checkpoint"] = in_run(saved)
            if resumed:
                summary["resumed_from"] = resumed
            if elastic:
                summary["elastic"] = {"ranks_at_each_start": entries}  # as rank 0 saw them
            rec.write_json(SUMMARY, summary)
            rec.event("done", status="finished", l2_relative_error=l2, wall_seconds=summary["wall_seconds"])
        return 0
    except KeyboardInterrupt as err:  # a signal reached this rank itself: no agreed step to save at
        if launcher_died(run_dir):  # horovodrun's helper signals the ranks when their launcher is killed
            if comm.rank == 0:
                record_dead(run_dir)
            return LAUNCHER_GONE_EXIT
        name = str(err) or "SIGINT"
        last = checkpoints.last if checkpoints else None
        _fail(
            rec, "interrupted", f"stopped by {name}", started, signal=name, checkpoint=in_run(last[1]) if last else None
        )
        return interrupted_exit(name)
    except (RecordError, CheckpointError) as err:  # a full disk or an unwritable run folder: one line
        reason = one_line(str(err))
        print(f"error: {reason}", file=sys.stderr, flush=True)
        record_failure(run_dir, comm.rank, reason)
        _fail(rec, "failed", reason, started)
        return 1
    except Exception as err:  # the launcher shows the reason; the log keeps the traceback
        traceback.print_exc()
        reason = one_line(f"{type(err).__name__}: {err}")  # one line; the log has all
        record_failure(run_dir, comm.rank, reason)  # before this rank's exit takes the job down
        _fail(rec, "failed", reason, started)
        return 1


def _resume(session: Session, run_dir: Path, rec: Recorder) -> dict:
    """Continue from the newest checkpoint: rank 0 reads it and every rank gets its state.
    metrics.jsonl already holds only steps up to it (the launcher cut it); TensorBoard is
    rebuilt from those records."""
    comm, trainer = session.comm, session.trainer
    outcome = None
    if comm.rank == 0:
        try:
            found = latest_checkpoint(run_dir)
            if found is None:
                raise ValueError("there is none")
            trainer.restore_variables(found.arrays)
            outcome = ("ok", found.path.name, found.meta)
        except (CheckpointError, ValueError) as err:
            outcome = ("error", f"cannot resume from the run's checkpoint: {err}", None)
    kind, text, meta = comm.broadcast_object(outcome, name="pinnrun_resume")
    if kind == "error":
        raise RuntimeError(text)
    comm.broadcast_variables(list(trainer.state_variables().values()))
    trainer.restore_progress(meta)
    rec.replay_tensorboard(_kept_metrics(run_dir))
    return _resumed_from(trainer, text, meta)


def _resume_each(session: Session, run_dir: Path) -> dict:
    """Elastic: every rank reads the checkpoint itself (no collective may run yet); the elastic
    loop's first sync then gives every rank rank 0's state anyway."""
    trainer = session.trainer
    found = latest_checkpoint(run_dir)
    if found is None:
        raise RuntimeError("cannot resume: the run folder has no checkpoint")
    try:
        trainer.restore_variables(found.arrays)
    except ValueError as err:
        raise RuntimeError(f"cannot resume from {found.path.name}: {err}") from None
    trainer.restore_progress(found.meta)
    return _resumed_from(trainer, found.path.name, found.meta)


def _resumed_from(trainer, name: str, meta: dict) -> dict:
    """What summary.json and the start event say of the checkpoint a run continued from."""
    earlier = meta.get("sampling", {})
    return {
        "step": trainer.step,
        "checkpoint": in_run(name),
        "ranks_before": earlier.get("ranks"),
        "points_before": earlier.get("points"),
    }


def _sampling(session: Session) -> dict:
    """What a checkpoint records of the points it was trained on."""
    spec = session.spec
    return {
        "method": spec.sampling.method,
        "seed": spec.training.seed,
        "scaling": spec.scaling,
        "ranks": session.comm.size,
        "points": point_counts(session.problem, session.batches)["global"],
    }


def _kept_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / METRICS
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = strict_json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and isinstance(record.get("losses"), dict):
            records.append(record)
    return records


def _diverged(rec: Recorder, record: dict, checkpoints: Checkpoints, started: float) -> int:
    bad = {k: v for k, v in record["losses"].items() if not np.isfinite(v)}
    what = ", ".join(f"{k} {v}" for k, v in bad.items()) or f"total {record['loss']} (a gradient was not finite)"
    last = checkpoints.last
    keep = (
        f"last good checkpoint: {in_run(last[1])} (step {last[0]})" if last else "no checkpoint was written before it"
    )
    reason = f"diverged at step {record['step']} ({record['phase']}): loss not finite ({what}); {keep}"
    _fail(
        rec,
        "diverged",
        reason,
        started,
        step=record["step"],
        phase=record["phase"],
        checkpoint=in_run(last[1]) if last else None,
    )
    return DIVERGED


def _interrupted(rec: Recorder, signal_name: str, saved: str, step: int, started: float) -> int:
    _fail(
        rec,
        "interrupted",
        f"stopped by {signal_name} at step {step}; final checkpoint {in_run(saved)}",
        started,
        signal=signal_name,
        step=step,
        checkpoint=in_run(saved),
    )
    return interrupted_exit(signal_name)


def _global_loss(losses: LossTerms, comm) -> tuple[float, dict]:
    """The weighted loss and per-term losses at the final parameters, over all ranks' points."""
    terms = comm.allreduce_sum(losses(), name="pinnrun_final_loss").numpy()
    return float(np.dot(losses.weights.numpy(), terms)), dict(zip(losses.names, map(float, terms)))


def _generalisation(train: tuple[float, dict], test: tuple[float, dict]) -> dict:
    return {
        "train_loss": train[0],
        "train_losses": train[1],
        "test_loss": test[0],
        "test_losses": test[1],
        "train_test_gap": test[0] - train[0],
    }


def _allreduce_share(costs: dict, step_seconds: float | None, size: int) -> float | None:
    """The share of a training step not spent computing: the all-reduce and waiting for it."""
    if size == 1:
        return 0.0  # nothing to all-reduce
    if not step_seconds:
        return None
    return max(0.0, 1.0 - costs["compute"][0]["seconds_per_step"] / step_seconds)


def _fail(rec: Recorder, status: str, reason: str, started: float, **fields) -> None:
    """Record how the run ended, where that can still be written (a full disk may refuse)."""
    summary_path = rec.run_dir / SUMMARY
    try:
        if rec.enabled and not summary_path.exists():
            rec.write_json(
                SUMMARY, {"status": status, "reason": reason, "wall_seconds": time.perf_counter() - started, **fields}
            )
        rec.event(status, status=status, reason=reason)
    except RecordError as err:
        print(f"error: {one_line(str(err))}", file=sys.stderr, flush=True)


def _environment(devices: list[dict]) -> dict:
    import platform

    import horovod

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "horovod": horovod.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "ranks": devices,
        "hosts": sorted({d["host"] for d in devices}),
    }


def _parse(argv: list[str]) -> tuple[Path, bool, bool, bool]:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pinnrun.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--probe", action="store_true", help="after training, time compute and all-reduce apart")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's newest checkpoint")
    parser.add_argument("--elastic", action="store_true", help="Horovod elastic: ranks may leave and join")
    args = parser.parse_args(argv)
    return args.run_dir, args.probe, args.resume, args.elastic


if __name__ == "__main__":
    sys.exit(main(*_parse(sys.argv[1:])))
