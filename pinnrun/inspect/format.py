"""How the views style a run's status and show summary fields they do not know by name
(numbers themselves: pinnrun/numbers.py)."""

from __future__ import annotations

from rich.markup import escape

from pinnrun.numbers import DASH, percent, sci

STATUS_STYLES = {
    "finished": "green",
    "running": "cyan",
    "interrupted": "yellow",
    "failed": "red",
    "dead": "red",
    "broken": "bold red",
}


def styled_status(status: str) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{escape(str(status))}[/]"


def extra(key: str, value) -> str:
    """A summary field this module does not know by name: shares as percentages,
    losses and gaps like the other losses, mappings term by term."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {extra(key, v)}" for k, v in value.items())
    if isinstance(value, str):
        return value
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("share"):
        return percent(value)
    if "loss" in key or "gap" in key or "error" in key:
        return sci(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)
