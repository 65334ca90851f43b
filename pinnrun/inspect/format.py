"""Numbers as the views show them; None becomes a dash."""

from __future__ import annotations

from rich.markup import escape

DASH = "–"
STATUS_STYLES = {
    "finished": "green",
    "running": "cyan",
    "interrupted": "yellow",
    "failed": "red",
    "dead": "red",
    "broken": "bold red",
}


def sci(value) -> str:
    return DASH if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.3e}"


def short(value) -> str:
    """Three digits are enough to compare runs in a table."""
    return DASH if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.2e}"


def seconds(value) -> str:
    if not isinstance(value, (int, float)):
        return DASH
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else sci(value) if isinstance(value, float) else DASH


def per_step(value) -> str:
    return DASH if not isinstance(value, (int, float)) else f"{value * 1e3:.2f} ms"


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
        return f"{value:.0%}"
    if "loss" in key or "gap" in key or "error" in key:
        return sci(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)
