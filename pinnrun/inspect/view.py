"""A described run (describe_run's dict) as rich renderables for the terminal."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pinnrun.inspect.format import extra, styled_status
from pinnrun.inspect.sparkline import LossCurve
from pinnrun.numbers import DASH, count, per_step, sci, seconds, text


def run_view(d: dict) -> Group:
    title = Text.from_markup(
        f"[bold]{escape(str(d.get('problem') or '?'))}[/]  {styled_status(d['status'])}"
        + (f"  [dim]{escape(str(d['reason']))}[/]" if d.get("reason") else "")
    )
    parts = [title, Text(d["path"], style="dim")]
    if d.get("description"):
        parts.append(Text(d["description"], style="italic"))
    parts.append(_facts(d))
    if d.get("phases"):
        parts.append(_phases(d["phases"]))
    parts += [Text("loss", style="bold"), LossCurve(d.get("loss_curve") or [])]
    for note in d.get("notes") or []:
        parts.append(Text(f"note: {note}", style="yellow"))
    return Group(*parts)


def _facts(d: dict) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in _rows(d):
        grid.add_row(key, value if isinstance(value, Text) else Text(str(value)))
    return grid


def _rows(d: dict):
    if d.get("command"):
        yield "command", Text(d["command"], style="dim")
    if d.get("overrides"):
        yield "overrides", " ".join(d["overrides"])
    yield "ranks", _ranks(d)
    yield "scaling", d.get("scaling") or DASH
    points = d.get("points") or {}
    for kind in ("per_rank", "global"):
        if kind in points:
            total = points[kind + "_total"]
            yield f"points {kind.replace('_', ' ')}", _terms(points[kind], count) + f"  (total {total:,})"
    if d.get("micro_batches"):
        batches, points = d["micro_batches"]
        yield "micro-batches", f"{count(batches)} per step on rank 0, at most {count(points)} points each"
    if d.get("adapt"):
        method, rounds, terms = d["adapt"]
        yield "adaptive points", f"{method}: {count(rounds)} round(s) on {', '.join(terms) or DASH}"
    if d.get("loss_weights"):
        yield "loss weights", f"{_terms(d['loss_weights'], sci)}  (balanced, at the end)"
    yield "steps", _steps(d.get("steps") or {})
    times = [
        text
        for key, text in [
            ("wall_seconds", f"wall {seconds(d.get('wall_seconds'))} s"),
            ("compile_seconds", f"compile {seconds(d.get('compile_seconds'))} s"),
            ("seconds_per_step", f"{per_step(d.get('seconds_per_step'))}/step (Adam)"),
            ("points_per_second", f"{count(_round(d.get('points_per_second')))} points/s"),
        ]
        if d.get(key) is not None
    ]
    if times:  # a run that stopped early has a wall time only
        yield "time", ", ".join(times)
    if d.get("final_loss") is not None:
        yield "final loss", f"{sci(d['final_loss'])}  ({_terms(d.get('final_losses') or {}, sci)})"
    elif d.get("last_logged"):
        last = d["last_logged"]
        yield (
            "last logged loss",
            (
                f"{sci(last.get('loss'))} at step {last.get('step')} ({last.get('phase')})  "
                f"({_terms(last.get('losses') or {}, sci)})"
            ),
        )
    if d.get("status") == "finished" or d.get("l2_relative_error") is not None:
        l2 = d.get("l2_relative_error")
        if l2 is None:
            yield "L2 relative error", "no reference to compare with"
        else:
            per_output = d.get("l2_relative_errors") or {}
            # one output: its own error is the combined one, shown once
            shown = f"  ({_terms(per_output, sci)})" if len(per_output) > 1 else ""
            yield "L2 relative error", Text(sci(l2), style="bold") + Text(shown)
    yield from _parameters(d)
    if d.get("ranks_in_sync") is not None:
        yield (
            "ranks in sync",
            (
                "yes: parameters bit-identical on every rank after each phase"
                if d["ranks_in_sync"]
                else Text("NO: ranks' parameters differ", style="bold red")
            ),
        )
    for key, value in (d.get("more") or {}).items():
        yield _label(key), extra(key, value)
    if d.get("versions"):
        yield "versions", ", ".join(f"{k} {v}" for k, v in d["versions"].items() if k != "platform")
        if d["versions"].get("platform"):
            yield "platform", d["versions"]["platform"]
    if d.get("devices"):
        yield "devices", _devices(d["devices"])
    if d.get("created"):
        yield "created", d["created"]
    if d.get("resume"):
        yield "continue with", d["resume"]
    if d.get("plots"):
        yield "plots", "\n".join(d["plots"])


def _parameters(d: dict):
    """Each identified parameter: the final value (else the last logged), where it started,
    and how far from the true value when the spec gives one."""
    final = d.get("parameters") or {}
    logged = (d.get("last_logged") or {}).get("parameters") or {}
    for name in dict.fromkeys([*final, *logged]):
        p = final.get(name)
        if p is None:
            yield f"parameter {name}", f"{_value(logged.get(name))} (last logged)"
            continue
        facts = [f"initial {_value(p.get('initial'))}"]
        if p.get("true_value") is not None:
            facts.append(f"true {_value(p['true_value'])}")
        if p.get("relative_error") is not None:
            facts.append(f"relative error {sci(p['relative_error'])}")
        yield f"parameter {name}", Text(_value(p.get("value")), style="bold") + Text(f"  ({', '.join(facts)})")


def _value(value) -> str:
    return text(value, ".6g")


def _label(key: str) -> str:
    """A summary field's name as words: train_test_gap -> train-test gap."""
    return key.replace("train_test", "train-test").replace("allreduce", "all-reduce").replace("_", " ")


def _ranks(d: dict) -> str:
    text = str(d.get("ranks") or DASH)
    how = ", ".join(x for x in (d.get("launcher"), d.get("controller")) if x)
    hosts = ", ".join(f"{h.get('name')}:{h.get('slots')}" for h in d.get("hosts") or [] if isinstance(h, dict))
    return text + (f" ({how})" if how else "") + (f" on {hosts}" if hosts else "")


def _steps(steps: dict) -> str:
    done, planned = steps.get("done") or {}, steps.get("planned") or {}
    parts = []
    for phase in dict.fromkeys([*done, *planned]):
        n, plan = done.get(phase), planned.get(phase)
        if n is None and not plan:
            continue
        parts.append(f"{phase} {n if n is not None else 0}" + (f" of {plan}" if plan and plan != n else ""))
    text = ", ".join(parts) or DASH
    if steps.get("from_log"):
        text += "  (up to the last logged step)"
    return text


def _phases(phases: list[dict]) -> Table:
    table = Table(title="optimizer phases", title_justify="left", title_style="bold", box=None, padding=(0, 2))
    for name in ("phase", "steps", "seconds", "compile s", "per step", "evals", "stopped because"):
        table.add_column(
            name, justify="left" if name in ("phase", "stopped because") else "right", no_wrap=name != "stopped because"
        )
    for p in phases:
        table.add_row(
            str(p.get("name")),
            str(p.get("steps", DASH)),
            seconds(p.get("seconds")),
            seconds(p.get("compile_seconds")),
            per_step(p.get("seconds_per_step")),
            str(p.get("evaluations") or DASH),
            str(p.get("stop_reason") or DASH),
        )
    return table


def _devices(devices: list) -> str:
    shown = []
    for r in devices:
        if isinstance(r, dict):
            threads = f", {r['threads']} thread(s)" if r.get("threads") else ""
            if r.get("inter_op"):
                threads += f" (inter-op {r['inter_op']}, intra-op {r.get('intra_op')})"
            shown.append(f"rank {r.get('rank')}: {r.get('device')} on {r.get('host')}{threads}")
    return "\n".join(shown) or DASH


def _terms(values: dict, fmt) -> str:
    return ", ".join(f"{k} {fmt(v)}" for k, v in values.items()) or DASH


def _round(value):
    return round(value) if isinstance(value, float) else value
