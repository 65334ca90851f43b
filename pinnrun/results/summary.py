"""summary.json: the numbers a user quotes about a finished (or failed) run."""

from __future__ import annotations

from pinnrun.problem.problem import Problem
from pinnrun.problem.terms.base import Batch
from pinnrun.training.trainer import TrainingLog


def point_counts(problem: Problem, points: dict[str, Batch]) -> dict:
    return {
        "per_rank": {t.name: points[t.name].shard.count for t in problem.terms},
        "global": {t.name: points[t.name].shard.total for t in problem.terms},
    }


def build_summary(
    problem: Problem,
    scaling: str,
    size: int,
    counts: dict,
    log: TrainingLog,
    wall: float,
    l2: float | None,
    in_sync: bool,
) -> dict:
    final = log.final or {}
    phases = [
        {
            "name": p.name,
            "steps": p.steps,
            "seconds": p.seconds,
            "compile_seconds": p.compile_seconds,
            "seconds_per_step": p.seconds_per_step,
            "mean_seconds_per_step": p.mean_seconds_per_step,
            "timed_chunks": len(p.chunks),
            "evaluations": p.evaluations or None,
            "stop_reason": p.stop_reason,
        }
        for p in log.phases
    ]
    adam = next((p for p in log.phases if p.name == "adam"), None)
    per_step = adam.seconds_per_step if adam else None
    global_points = sum(counts["global"].values())
    return {
        "status": "finished",
        "reason": None,
        "problem": problem.name,
        "ranks": size,
        "scaling": scaling,
        "points": counts,
        "final_loss": final.get("loss"),
        "final_losses": final.get("losses"),
        "l2_relative_error": l2,
        "wall_seconds": wall,
        "compile_seconds": sum(p.compile_seconds for p in log.phases),
        "seconds_per_step": per_step,
        "points_per_second": global_points / per_step if per_step else None,
        "steps": final.get("step", 0),
        "phases": phases,
        "ranks_in_sync": in_sync,
    }
