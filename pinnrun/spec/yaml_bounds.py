"""Bounds checked on YAML text before PyYAML builds anything from it.

PyYAML composes and constructs nodes recursively (500 nested `[` overflow the
stack) and expands aliases without limit (a 300-byte alias bomb becomes
gigabytes). Its event parser, though, is an iterative state machine, so the
event stream is walked first: nesting depth, the number of values with every
alias expanded, and aliases to an anchor that is still open (a structure that
contains itself) are all checked there, in bounded time and memory.
"""

from __future__ import annotations

import unicodedata

import yaml

from pinnrun.spec.limits import MAX_YAML_DEPTH, MAX_YAML_VALUES


class YAMLRefused(ValueError):
    """A one-line reason and the 1-based line it applies to (None if unknown)."""

    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.line = line


def decode_utf8(data: bytes) -> str:
    """Strict UTF-8, with universal newlines (as `Path.read_text` gives)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - data.rfind(b"\n", 0, err.start)
        raise YAMLRefused(f"not UTF-8 text: byte 0x{data[err.start]:02x} at column {column}", line) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def check_characters(text: str) -> None:
    """Refuse the characters YAML refuses, with their line (PyYAML's own error spans lines)."""
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if bad is None:
        return
    char, at = bad.group(), bad.start()
    line = text.count("\n", 0, at) + 1
    column = at - text.rfind("\n", 0, at)
    kind = "control character" if unicodedata.category(char) == "Cc" else "character"
    raise YAMLRefused(f"{kind} U+{ord(char):04X} at column {column} is not allowed", line)


def check_structure(text: str, loader: type) -> None:
    """Walk the event stream; raise YAMLRefused past the depth or expanded-size bounds.

    yaml.YAMLError (a syntax error) propagates: the caller reports it as usual.
    """
    total = 0  # values so far, aliases expanded
    open_collections: list[list] = []  # [anchor, total at its start, height of its tallest child]
    sizes: dict[str, int] = {}  # anchor -> values it stands for
    heights: dict[str, int] = {}  # anchor -> collections nested in it, itself included

    def finished(height: int) -> None:  # a value of `height` completed inside the open collections
        if open_collections:
            open_collections[-1][2] = max(open_collections[-1][2], height)

    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _, _ in open_collections):
                raise YAMLRefused(
                    f"alias *{event.anchor} is inside its own anchor &{event.anchor} (a value cannot contain itself)",
                    line,
                )
            total += sizes.get(event.anchor, 1)  # an unknown anchor: the composer reports it
            height = heights.get(event.anchor, 0)
            if len(open_collections) + height > MAX_YAML_DEPTH:  # anchors nested in anchors
                raise YAMLRefused(f"nested deeper than {MAX_YAML_DEPTH} levels with aliases expanded", line)
            finished(height)
        elif isinstance(event, yaml.ScalarEvent):
            total += 1
            if event.anchor is not None:
                sizes[event.anchor], heights[event.anchor] = 1, 0
            finished(0)
        elif isinstance(event, yaml.CollectionStartEvent):
            total += 1
            open_collections.append([event.anchor, total - 1, 0])
            if len(open_collections) > MAX_YAML_DEPTH:
                raise YAMLRefused(f"nested deeper than {MAX_YAML_DEPTH} levels", line)
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, start, tallest = open_collections.pop()
            if anchor is not None:
                sizes[anchor], heights[anchor] = total - start, tallest + 1
            finished(tallest + 1)
        if total > MAX_YAML_VALUES:
            raise YAMLRefused(
                f"more than {MAX_YAML_VALUES:,} values with aliases expanded "
                "(an alias counts as the whole value it repeats)",
                line,
            )
