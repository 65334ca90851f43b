"""What `pinnrun train` shows while the ranks train, fed by rank 0's events.jsonl.

On a terminal: one bar per phase (Adam, L-BFGS), each with its own rate and time remaining. A
phase says `compiling` until its first step is done (its graph is being built: no rate yet), and
between logged steps its bar moves on at the measured rate, up to where the next log is due, so
it moves every refresh rather than every `log_every` steps. Elsewhere (CI logs, pipes): one line
per logged step. Quiet: nothing."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from pinnrun.errors import printable
from pinnrun.numbers import sci, text


class ProgressView:
    def __init__(self, console: Console, quiet: bool = False):
        self.console, self.quiet = console, quiet
        self.live = console.is_terminal and not quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description:>5}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[params]}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not self.live,
        )
        self.phases: dict[str, tuple[int, int, int]] = {}  # phase -> (task, first global step - 1, steps)
        self.phase = None
        self.last = None  # (event time, global step, when it arrived here) of the phase's last event
        self.rate = None  # steps/s between the phase's last two events
        self.interval = 0  # steps between them: where the next log is due
        self.started = None  # the start event's time

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def update(self, event: dict) -> dict | None:
        """Show one event; returns it when it ends the run (done, failed, interrupted)."""
        kind = event.get("event")
        if kind == "start":
            self._start(event)
        elif kind == "progress":
            self._progress(event)
        elif kind in ("done", "failed", "interrupted"):
            if kind == "done" and self.phase in self.phases:
                task, _, steps = self.phases[self.phase]
                self.progress.update(task, completed=steps, status="done")
            return event
        return None

    def tick(self, now: float | None = None) -> None:
        """Between logged steps: the current phase's bar at the measured rate, never past where
        the next log is due (nor the phase's end)."""
        if not self.live or self.rate is None or self.phase not in self.phases:
            return
        task, before, steps = self.phases[self.phase]
        _, step, arrived = self.last
        due = min(step + self.interval, before + steps)
        guess = min(step + self.rate * ((now if now is not None else time.monotonic()) - arrived), due)
        self.progress.update(task, completed=int(guess) - before)

    def _start(self, event: dict) -> None:
        self.started = event.get("time")
        phases = event.get("phases") or {"adam": event.get("total_steps", 0)}
        before = 0
        for name, steps in phases.items():
            if steps:
                task = self.progress.add_task(name, total=steps, loss="-", params="", status="waiting")
                self.phases[name] = (task, before, steps)
                before += steps
        if self.phases:
            self.phase = next(iter(self.phases))
            self.progress.update(self.phases[self.phase][0], status="compiling")
        if not self.quiet:
            self.console.print(
                f"training on {event['ranks']} rank(s), {event['scaling']} scaling, "
                f"{sum(event['points']['global'].values()):,} points in all"
            )

    def _progress(self, event: dict) -> None:
        t, step, phase = event["time"], event["step"], event["phase"]
        back = self.last is not None and phase == self.phase and step <= self.last[1]
        if phase != self.phase or self.last is None or back:
            # the phase's first logged step (its time includes building the graph), or steps going
            # back: an elastic reset redoes them from the last commit, on new ranks that compile again
            since = self.last[0] if self.last is not None else self.started
            self._finish_before(phase)
            self.phase, self.rate, self.interval = phase, None, 0
            status = "…"
            if back:
                line = "back to this step after a reset of the ranks"
            elif since is not None and t >= since:
                line = f"first {step - self._before(phase)} step(s) with compilation in {t - since:.1f} s"
            else:
                line = "compiled"
        else:
            self.interval = step - self.last[1]
            self.rate = self.interval / (t - self.last[0]) if t > self.last[0] else None
            status = line = f"{self.rate:,.0f} it/s" if self.rate is not None else "…"
        self.last = (t, step, time.monotonic())
        params = parameters_text(event.get("parameters"))
        if phase in self.phases:
            task, before, steps = self.phases[phase]
            self.progress.update(
                task,
                completed=step - before,
                loss=sci(event.get("loss")),
                params=escape(params),
                status=status,
            )
            if step - before >= steps:
                self.progress.update(task, status="done")
                self._compiling_next(phase)
        if not self.live and not self.quiet:
            self.console.print(
                f"{phase:>5} step {step:>7}  loss {sci(event.get('loss'), 4)}  "
                + (f"{escape(params)}  " if params else "")
                + line
            )

    def _before(self, phase: str) -> int:
        return self.phases[phase][1] if phase in self.phases else 0

    def _finish_before(self, phase: str) -> None:
        """Phases before `phase` are over (a resumed run may start in a later one)."""
        for name, (task, _, steps) in self.phases.items():
            if name == phase:
                break
            self.progress.update(task, completed=steps, status="done")

    def _compiling_next(self, phase: str) -> None:
        names = list(self.phases)
        if phase in names and names.index(phase) + 1 < len(names):
            self.progress.update(self.phases[names[names.index(phase) + 1]][0], status="compiling")


def parameters_text(parameters) -> str:
    """`D=0.1021 k=2.31`: the unknown parameters' current values (inverse problems), else ''."""
    if not isinstance(parameters, dict):
        return ""
    return " ".join(f"{printable(str(name))}={text(v, '.4g')}" for name, v in list(parameters.items())[:8])
