"""One rank of a training run: `python -m pinnrun.worker RUN_DIR`.

Started by the launcher under horovodrun / mpirun / srun. Loads the resolved
spec from the run folder, samples its own shard, trains, and (rank 0) writes
the results.
"""
from __future__ import annotations

import hashlib
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
from pinnrun.results.failures import record_failure  # noqa: E402
from pinnrun.results.recorder import SUMMARY, Recorder  # noqa: E402
from pinnrun.results.solution import Solution  # noqa: E402
from pinnrun.results.summary import build_summary, point_counts  # noqa: E402
from pinnrun.sampling.holdout import sample_holdout  # noqa: E402
from pinnrun.training.comm import open_comm  # noqa: E402
from pinnrun.training.losses import LossTerms  # noqa: E402
from pinnrun.training.placement import claim_devices  # noqa: E402
from pinnrun.training.probe import measure_step_costs  # noqa: E402
from pinnrun.training.session import build_session  # noqa: E402


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def digest(arrays) -> str:
    """Short fingerprint of exact bytes: equal digests mean bit-identical arrays."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def main(run_dir: Path, probe: bool = False) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.perf_counter()
    comm = open_comm()
    device = claim_devices(comm)
    rec = Recorder(run_dir, comm.rank == 0)
    try:
        session = build_session(run_dir / "spec.yaml", comm)
        spec, problem, points, net = session.spec, session.problem, session.batches, session.net
        trainer = session.trainer
        counts = point_counts(problem, points)
        solution = Solution(problem, spec.reference, session.loaded.path.parent, net) if comm.rank == 0 else None
        devices = comm.allgather_object(device)
        rec.write_json("env.json", _environment(devices))
        lbfgs_steps = spec.training.lbfgs.steps if spec.training.lbfgs else 0
        rec.event("start", ranks=comm.size, scaling=spec.scaling, points=counts,
                  total_steps=spec.training.adam.steps + lbfgs_steps,
                  phases={"adam": spec.training.adam.steps, "lbfgs": lbfgs_steps})
        digests = {}  # per phase, every rank's parameter digest: ranks must stay bit-identical

        def after_phase(name: str) -> None:
            digests[name] = comm.allgather_object(digest(p.numpy() for p in session.variables))

        def record(metric: dict) -> None:
            if solution is not None:  # the error curve: when did training reach a given accuracy?
                metric.update(solution.error_curve_fields())
            rec.metric(metric)

        log = trainer.run(record, after_phase)
        point_digests = comm.allgather_object({name: digest([p.x]) for name, p in points.items()})
        train_loss = _global_loss(trainer.losses, comm)
        test_loss = _global_loss(LossTerms(problem, sample_holdout(problem, comm.rank, comm.size, spec.scaling), net,
                                           session.parameters), comm)
        costs = measure_step_costs(session) if probe else None
        if comm.rank == 0:
            tf.train.Checkpoint(**{f"p{i}": p for i, p in enumerate(session.variables)}).write(
                str(run_dir / "checkpoint" / "model"))
            l2, l2_per_output = solution.save(run_dir / "predictions.npz")
            in_sync = all(len(set(d)) == 1 for d in digests.values())
            summary = build_summary(problem, spec.scaling, comm.size, counts, log,
                                    time.perf_counter() - started, l2, in_sync)
            summary["l2_relative_errors"] = l2_per_output
            summary.update(_generalisation(train_loss, test_loss))
            if problem.parameters:
                summary["parameters"] = session.parameters.report()
            if costs:
                summary["step_costs"] = costs
                summary["allreduce_share"] = _allreduce_share(costs, summary["seconds_per_step"], comm.size)
            summary["param_digests"] = digests
            summary["point_digests"] = point_digests
            rec.write_json(SUMMARY, summary)
            rec.event("done", status="finished", l2_relative_error=l2, wall_seconds=summary["wall_seconds"])
        return 0
    except KeyboardInterrupt as err:
        _fail(rec, "interrupted", f"stopped by {str(err) or 'SIGINT'}", started)
        return 130
    except Exception as err:  # the launcher shows the reason; the log keeps the traceback
        traceback.print_exc()
        reason = one_line(f"{type(err).__name__}: {err}")  # one line; the log has all
        record_failure(run_dir, comm.rank, reason)  # before this rank's exit takes the job down
        _fail(rec, "failed", reason, started)
        return 1


def _global_loss(losses: LossTerms, comm) -> tuple[float, dict]:
    """The weighted loss and per-term losses at the final parameters, over all ranks' points."""
    terms = comm.allreduce_sum(losses(), name="pinnrun_final_loss").numpy()
    return float(np.dot(losses.weights.numpy(), terms)), dict(zip(losses.names, map(float, terms)))


def _generalisation(train: tuple[float, dict], test: tuple[float, dict]) -> dict:
    return {"train_loss": train[0], "train_losses": train[1], "test_loss": test[0], "test_losses": test[1],
            "train_test_gap": test[0] - train[0]}


def _allreduce_share(costs: dict, step_seconds: float | None, size: int) -> float | None:
    """The share of a training step not spent computing: the all-reduce and waiting for it."""
    if size == 1:
        return 0.0  # nothing to all-reduce
    if not step_seconds:
        return None
    return max(0.0, 1.0 - costs["compute"][0]["seconds_per_step"] / step_seconds)


def _fail(rec: Recorder, status: str, reason: str, started: float) -> None:
    summary_path = rec.run_dir / SUMMARY
    if rec.enabled and not summary_path.exists():
        rec.write_json(SUMMARY, {"status": status, "reason": reason,
                                 "wall_seconds": time.perf_counter() - started})
    rec.event(status, status=status, reason=reason)


def _environment(devices: list[dict]) -> dict:
    import platform

    import horovod

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "horovod": horovod.__version__,
            "numpy": np.__version__, "platform": platform.platform(), "ranks": devices,
            "hosts": sorted({d["host"] for d in devices})}


def _parse(argv: list[str]) -> tuple[Path, bool]:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pinnrun.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--probe", action="store_true", help="after training, time compute and all-reduce apart")
    args = parser.parse_args(argv)
    return args.run_dir, args.probe


if __name__ == "__main__":
    sys.exit(main(*_parse(sys.argv[1:])))
