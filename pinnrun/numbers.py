"""How pinnrun writes a number wherever it shows one (progress, train's result line, inspect,
scale's tables and notes). A missing or non-numeric value is a dash; a diverged loss reads
nan or inf (strict JSON stores it as null, read back as nan)."""

from __future__ import annotations

DASH = "-"


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def text(value, spec: str) -> str:
    """Any number with a format spec; the helpers below are the specs pinnrun uses."""
    return format(value, spec) if is_number(value) else DASH


def sci(value, digits: int = 3) -> str:
    """Losses and errors: 3 digits after the point for one run, 2 where runs are compared."""
    return text(value, f".{digits}e")


def percent(value) -> str:
    """Shares and efficiencies, in whole percents."""
    return text(value, ".0%")


def signed_percent(value) -> str:
    return text(value, "+.0%")


def seconds(value) -> str:
    """Wall times: two decimals below 10 s, one below 1,000 s, whole seconds from there."""
    if not is_number(value):
        return DASH
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def milliseconds(value, spec: str = ".3g") -> str:
    """A time in seconds shown in milliseconds (the unit is the caller's column or text);
    a second or more as whole, comma-grouped milliseconds."""
    if not is_number(value):
        return DASH
    return f"{value * 1e3:,.0f}" if value >= 1 else format(value * 1e3, spec)


def per_step(value) -> str:
    """A time per step, with its unit."""
    return f"{milliseconds(value, '.2f')} ms" if is_number(value) else DASH


def count(value) -> str:
    """Points, steps, ranks: comma-grouped integers; a float (a rate) in scientific notation."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else sci(value)


def si(value) -> str:
    """Rates such as points per second: 3 significant digits with k, M or G."""
    if not is_number(value):
        return DASH
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= div:
            return f"{value / div:.3g}{unit}"
    return f"{value:.3g}"


def byte_size(n: float) -> str:
    """Bytes: a small count exactly, else one decimal in the largest binary unit under 1,024."""
    if n < 1024:
        return f"{n:,.0f} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024:
            break
    else:
        n, unit = n / 1024, "PiB"
    return f"{n:.1f} {unit}"


def span(lo, hi) -> str:
    """A spread (interquartile range, min-max) of errors or gaps."""
    return DASH if not (is_number(lo) and is_number(hi)) else f"{lo:.1e} .. {hi:.1e}"
