"""The loss curve in the terminal: log10(total loss) against step as a few rows
of block characters, coloured by optimizer phase. A rich renderable, no extra dependency."""

from __future__ import annotations

import bisect
import math

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

BLOCKS = " ▁▂▃▄▅▆▇█"
PHASE_STYLES = {"adam": "cyan", "lbfgs": "magenta"}
LABEL = 9  # width of the loss labels on the left


class LossCurve:
    def __init__(self, curve: list[list], height: int = 5, max_width: int = 72):
        """curve: [step, phase, loss] per logged step (describe_run's loss_curve)."""
        self.points = [
            (s, p, v)
            for s, p, v in curve
            if isinstance(s, (int, float)) and isinstance(v, (int, float)) and v > 0 and math.isfinite(v)
        ]
        self.height, self.max_width = height, max_width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if len(self.points) < 2:
            yield Text("(fewer than two logged steps: no loss curve)", style="dim")
            return
        width = max(10, min(self.max_width, options.max_width - LABEL - 2))
        steps = [s for s, _, _ in self.points]
        logs = [math.log10(v) for _, _, v in self.points]
        lo, hi = min(logs), max(logs)
        span = (hi - lo) or 1.0
        columns = [self._column(steps, logs, steps[0] + (steps[-1] - steps[0]) * i / (width - 1)) for i in range(width)]
        levels = [max(1, round((v - lo) / span * self.height * 8)) for v, _ in columns]
        for row in range(self.height - 1, -1, -1):
            label = f"{10**hi:.1e}" if row == self.height - 1 else f"{10**lo:.1e}" if row == 0 else ""
            line = Text(f"{label:>{LABEL}}│", style="dim")
            for level, (_, phase) in zip(levels, columns):
                line.append(BLOCKS[min(8, max(0, level - row * 8))], style=PHASE_STYLES.get(phase, "white"))
            yield line
        # ┴ where the optimizer changes: readable without colours too
        axis = "".join("┴" if i and phase != columns[i - 1][1] else "─" for i, (_, phase) in enumerate(columns))
        yield Text(" " * LABEL + "└" + axis, style="dim")
        left, right = f"step {steps[0]}", f"step {steps[-1]}"
        yield Text(" " * (LABEL + 1) + left + right.rjust(width - len(left)), style="dim")
        yield self._legend()

    def _column(self, steps, logs, at: float) -> tuple[float, str]:
        """Linear interpolation of log10(loss) at step `at`; phase of the last record at or before it."""
        i = max(0, bisect.bisect_right(steps, at) - 1)
        if i + 1 < len(steps) and steps[i + 1] > steps[i]:
            w = (at - steps[i]) / (steps[i + 1] - steps[i])
            value = logs[i] + w * (logs[i + 1] - logs[i])
        else:
            value = logs[i]
        return value, self.points[i][1]

    def _legend(self) -> Text:
        legend = Text(" " * (LABEL + 1) + "log10 total loss; ", style="dim")
        seen = []
        for _, phase, _ in self.points:
            if phase not in seen:
                seen.append(phase)
        for phase in seen:
            first = next(s for s, p, _ in self.points if p == phase)
            legend.append("█ ", style=PHASE_STYLES.get(phase, "white"))
            legend.append(f"{phase} from step {first}  ", style="dim")
        return legend
