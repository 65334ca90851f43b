"""One run as a JSON-able dict: the single source of both the rich view and --json.

Every field is optional: a crashed or running run gets what its files say.
"""

from __future__ import annotations

from pathlib import Path

from pinnrun.inspect.read import RunFiles
from pinnrun.results.checkpoints import checkpoint_paths
from pinnrun.inspect.status import run_status
from pinnrun.inspect.typed import as_count, as_mapping, as_number, as_text
from pinnrun.results.files import PREDICTIONS

# summary.json fields shown in their own place; anything else scalar is shown as "more"
SHOWN = {
    "status",
    "reason",
    "problem",
    "ranks",
    "scaling",
    "points",
    "final_loss",
    "final_losses",
    "l2_relative_error",
    "l2_relative_errors",
    "parameters",
    "wall_seconds",
    "compile_seconds",
    "seconds_per_step",
    "points_per_second",
    "steps",
    "phases",
    "ranks_in_sync",
    "param_digests",
    "point_digests",
    "micro_batches",
    "adapt",
    "loss_weights",
}
PARAMETER_FIELDS = ("initial", "value", "true_value", "relative_error")
RESUMABLE = ("interrupted", "failed", "dead")  # a diverged run would diverge again from its checkpoint
VERSIONS = ("python", "tensorflow", "horovod", "numpy", "platform")


def _micro_batches(value) -> tuple[int, int] | None:
    """(micro-batches, points each at most) of rank 0, when its points were split."""
    value = as_mapping(value) or {}
    count, points = as_count(value.get("count")), as_count(value.get("points"))
    return (count, points) if count and count > 1 and points else None


def _adapt(value) -> tuple[str, int, list[str]] | None:
    """(method, rounds done, terms) of sampling.adapt."""
    value = as_mapping(value) or {}
    method, rounds = as_text(value.get("method")), as_count(value.get("rounds"))
    terms = [t for t in value.get("terms") or [] if isinstance(t, str)] if isinstance(value.get("terms"), list) else []
    return (method, rounds, terms) if method and rounds is not None else None


def describe_run(files: RunFiles, now: float) -> dict:
    """Every value has the type the views expect, whatever the files hold (None where they
    hold something else)."""
    summary, run, spec, env = files.summary or {}, files.run or {}, files.spec or {}, files.env or {}
    start = next((e for e in files.events if e.get("event") == "start"), {})
    status, reason = run_status(files, now)
    if files.broken:
        status, reason = "broken", files.broken
    points = summary.get("points") or start.get("points")
    last = files.metrics[-1] if files.metrics else None
    return {
        "path": str(files.path),
        "status": status,
        "reason": reason,
        "problem": as_text(summary.get("problem")) or as_text(spec.get("name")),
        "description": as_text(spec.get("description")),
        "command": as_text(run.get("command")),
        "launcher": as_text(run.get("launcher")),
        "controller": as_text(run.get("controller")),
        "ranks": as_count(summary.get("ranks")) or as_count(start.get("ranks")) or as_count(run.get("ranks")),
        "hosts": _dicts(run.get("hosts")),
        "scaling": _first_text(summary.get("scaling"), start.get("scaling"), run.get("scaling"), spec.get("scaling")),
        "overrides": [o for o in run.get("overrides") or [] if isinstance(o, str)]
        if isinstance(run.get("overrides"), list)
        else None,
        "points": _points(points),
        "micro_batches": _micro_batches(summary.get("micro_batches")),
        "adapt": _adapt(summary.get("adapt")),
        "loss_weights": _numbers(summary.get("loss_weights")),
        "steps": _steps(summary, files.metrics, start, spec),
        "phases": _dicts(summary.get("phases")),
        "wall_seconds": as_number(summary.get("wall_seconds")),
        "compile_seconds": as_number(summary.get("compile_seconds")),
        "seconds_per_step": as_number(summary.get("seconds_per_step")),
        "points_per_second": as_number(summary.get("points_per_second")),
        "final_loss": as_number(summary.get("final_loss")),
        "final_losses": _numbers(summary.get("final_losses")),
        "l2_relative_error": as_number(summary.get("l2_relative_error")),
        "l2_relative_errors": _numbers(summary.get("l2_relative_errors")),
        "parameters": _parameters(summary.get("parameters")),
        "ranks_in_sync": summary.get("ranks_in_sync") if isinstance(summary.get("ranks_in_sync"), bool) else None,
        "last_logged": last
        and {
            k: last.get(k)
            for k in (
                "step",
                "phase",
                "loss",
                "losses",
                "elapsed",
                "l2_relative_error",
                "l2_relative_errors",
                "parameters",
            )
        },
        "more": extra_fields(summary),
        "versions": _versions(files),
        "devices": _dicts(env.get("ranks")),
        "created": as_text(run.get("created")),
        "last_write": files.last_write,
        "loss_curve": [[m.get("step"), m.get("phase"), m.get("loss")] for m in files.metrics],
        "has_predictions": _is_file(files.path / PREDICTIONS),
        "notes": list(files.notes),
        "resume": _resume_hint(files.path, status),
    }


def _resume_hint(path: Path, status: str) -> str | None:
    """How to continue a run that stopped before its end, from the checkpoint it would use."""
    if status not in RESUMABLE:
        return None
    found = checkpoint_paths(path)
    return f"pinnrun train --resume {path}  (from step {found[-1][0]})" if found else None


def broken_run(path: Path, reason: str) -> dict:
    """What describe_run gives for a folder it could not describe at all."""
    return {
        "path": str(path),
        "status": "broken",
        "reason": reason,
        "notes": [reason],
        "steps": {},
        "loss_curve": [],
        "more": {},
        "versions": {},
    }


def extra_fields(summary: dict) -> dict:
    """Fields other versions of pinnrun may add (a test loss, an all-reduce share...):
    shown if they are a number, text, or a flat mapping of those; never required."""

    def plain(v):
        return v is None or isinstance(v, (int, float, str, bool))

    return {
        k: v
        for k, v in summary.items()
        if k not in SHOWN and (plain(v) or (isinstance(v, dict) and v and all(plain(x) for x in v.values())))
    }


def _points(points) -> dict | None:
    if not isinstance(points, dict):
        return None
    out = {k: v for k, v in points.items() if isinstance(v, dict)}
    for k, v in list(out.items()):
        out[f"{k}_total"] = sum(x for x in v.values() if as_number(x) is not None)
    return out or None


def _steps(summary: dict, metrics: list[dict], start: dict, spec: dict) -> dict:
    """Steps done per optimizer (from the summary, else the last logged step of each phase)
    and the steps planned, so a running or interrupted run shows how far it got.
    metrics records are checked by read.py: an int step and a text phase."""
    done = {
        p["name"]: as_count(p.get("steps"))
        for p in _dicts(summary.get("phases")) or []
        if isinstance(p.get("name"), str)
    }
    from_log = not done and bool(metrics)
    if from_log:  # the step counter runs on across phases: L-BFGS step 31 follows Adam step 30
        ends: dict = {}
        for m in metrics:
            ends[m["phase"]] = max(ends.get(m["phase"], 0), m["step"])
        before = 0
        for phase, end in ends.items():
            done[phase], before = end - before, end
    planned = start.get("phases") if isinstance(start.get("phases"), dict) else spec.get("planned_steps")
    planned = {k: as_count(v) for k, v in planned.items()} if isinstance(planned, dict) else None
    total = as_count(summary.get("steps"))
    if total is None:
        total = max((m["step"] for m in metrics), default=None)
    return {"done": done, "total": total, "planned": planned, "from_log": from_log}


def _versions(files: RunFiles) -> dict:
    env = files.env or {}
    versions = {"pinnrun": (files.run or {}).get("pinnrun")}
    versions.update({k: env.get(k) for k in VERSIONS})
    return {k: v for k, v in versions.items() if isinstance(v, str) and v}


def _first_text(*values) -> str | None:
    return next((v for v in values if isinstance(v, str) and v), None)


def _numbers(value) -> dict | None:
    """A mapping of term -> number (None where a value is not one)."""
    return {k: as_number(v) for k, v in value.items()} if isinstance(value, dict) else None


def _parameters(value) -> dict | None:
    """Parameter -> its initial, final and true value and relative error (None where not a number)."""
    if not isinstance(value, dict):
        return None
    return {
        name: {k: as_number(as_mapping(p).get(k)) for k in PARAMETER_FIELDS}
        for name, p in value.items()
        if isinstance(name, str)
    }


def _dicts(value) -> list[dict] | None:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False
