"""Printing a wide table at its full width, whatever the terminal's."""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.measure import Measurement


def print_wide(console: Console, renderable: RenderableType) -> None:
    """At its natural width even where the terminal (or a pipe's default of 80 columns) is
    narrower: a long line wrapped by the terminal is still readable, a number cut short is wrong."""
    needed = Measurement.get(console, console.options.update_width(1000), renderable).maximum
    width = console.width  # print(width=...) cannot go beyond the console's width: widen it for this print
    console.width = max(width, needed)
    try:
        console.print(renderable, crop=False)
    finally:
        console.width = width
