"""One run as a JSON-able dict: the single source of both the rich view and --json.

Every field is optional: a crashed or running run gets what its files say.
"""
from __future__ import annotations

from pinnrun.inspect.read import RunFiles
from pinnrun.inspect.status import run_status

# summary.json fields shown in their own place; anything else scalar is shown as "more"
SHOWN = {"status", "reason", "problem", "ranks", "scaling", "points", "final_loss", "final_losses",
         "l2_relative_error", "wall_seconds", "compile_seconds", "seconds_per_step", "points_per_second",
         "steps", "phases", "ranks_in_sync", "param_digests", "point_digests"}
VERSIONS = ("python", "tensorflow", "horovod", "numpy", "platform")


def describe_run(files: RunFiles, now: float) -> dict:
    summary, run, spec = files.summary or {}, files.run or {}, files.spec or {}
    start = next((e for e in files.events if e.get("event") == "start"), {})
    status, reason = run_status(files, now)
    points = summary.get("points") or start.get("points")
    last = files.metrics[-1] if files.metrics else None
    return {
        "path": str(files.path),
        "status": status, "reason": reason,
        "problem": summary.get("problem") or spec.get("name"),
        "description": spec.get("description"),
        "command": run.get("command"),
        "launcher": run.get("launcher"), "controller": run.get("controller"),
        "ranks": summary.get("ranks") or start.get("ranks") or run.get("ranks"),
        "hosts": run.get("hosts"),
        "scaling": summary.get("scaling") or start.get("scaling") or run.get("scaling") or spec.get("scaling"),
        "overrides": run.get("overrides"),
        "points": _points(points),
        "steps": _steps(summary, files.metrics, start, spec),
        "phases": summary.get("phases"),
        "wall_seconds": summary.get("wall_seconds"),
        "compile_seconds": summary.get("compile_seconds"),
        "seconds_per_step": summary.get("seconds_per_step"),
        "points_per_second": summary.get("points_per_second"),
        "final_loss": summary.get("final_loss"),
        "final_losses": summary.get("final_losses"),
        "l2_relative_error": summary.get("l2_relative_error"),
        "ranks_in_sync": summary.get("ranks_in_sync"),
        "last_logged": last and {k: last.get(k) for k in ("step", "phase", "loss", "losses", "elapsed")},
        "more": extra_fields(summary),
        "versions": _versions(files),
        "devices": (files.env or {}).get("ranks"),
        "created": run.get("created"),
        "last_write": files.last_write,
        "loss_curve": [[m.get("step"), m.get("phase"), m.get("loss")] for m in files.metrics],
        "has_predictions": (files.path / "predictions.npz").is_file(),
        "notes": list(files.notes),
    }


def extra_fields(summary: dict) -> dict:
    """Fields other versions of pinnrun may add (a test loss, an all-reduce share...):
    shown if they are a number, text, or a flat mapping of those; never required."""
    def plain(v):
        return v is None or isinstance(v, (int, float, str, bool))
    return {k: v for k, v in summary.items() if k not in SHOWN
            and (plain(v) or (isinstance(v, dict) and v and all(plain(x) for x in v.values())))}


def _points(points: dict | None) -> dict | None:
    if not isinstance(points, dict):
        return None
    out = {k: v for k, v in points.items() if isinstance(v, dict)}
    for k, v in list(out.items()):
        out[f"{k}_total"] = sum(x for x in v.values() if isinstance(x, (int, float)))
    return out or None


def _steps(summary: dict, metrics: list[dict], start: dict, spec: dict) -> dict:
    """Steps done per optimizer (from the summary, else the last logged step of each phase)
    and the steps planned, so a running or interrupted run shows how far it got."""
    done = {p["name"]: p.get("steps") for p in summary.get("phases") or [] if isinstance(p, dict) and "name" in p}
    from_log = not done and bool(metrics)
    if from_log:  # the step counter runs on across phases: L-BFGS step 31 follows Adam step 30
        ends: dict = {}
        for m in metrics:
            ends[m.get("phase")] = max(ends.get(m.get("phase"), 0), m.get("step") or 0)
        before = 0
        for phase, end in ends.items():
            done[phase], before = end - before, end
    planned = start.get("phases") or spec.get("planned_steps")
    total = summary.get("steps") if summary.get("steps") is not None else (
        max((m.get("step") or 0 for m in metrics), default=None))
    return {"done": done, "total": total, "planned": planned, "from_log": from_log}


def _versions(files: RunFiles) -> dict:
    env = files.env or {}
    versions = {"pinnrun": (files.run or {}).get("pinnrun")}
    versions.update({k: env.get(k) for k in VERSIONS})
    return {k: v for k, v in versions.items() if v}
