"""A value read from a run folder as the type a view needs, or None: files written by a crashed,
older or hand-edited run may hold anything, and inspect never fails on them."""

from __future__ import annotations


def as_number(value) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def as_count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def as_text(value) -> str | None:
    return value if isinstance(value, str) else None


def as_mapping(value) -> dict:
    return value if isinstance(value, dict) else {}
