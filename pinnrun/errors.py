"""User-facing errors: one line, no traceback, exit status 2."""

from __future__ import annotations

import re
import unicodedata

MAX_TOKEN_CHARS = 200  # a value quoted in a message (a path, a --set value) is shown up to this long
MAX_LINE_CHARS = 1000  # a whole error line, after escaping
# characters a terminal would not show as themselves: controls (newline, escape...), format characters
# (bidi overrides, zero-width), lone surrogates (undecodable file names), line and paragraph separators
_HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_LONG_TOKEN = re.compile(r"\S{%d,}" % (MAX_TOKEN_CHARS + 1))


class PinnrunError(Exception):
    """An error caused by the user's input; the CLI prints str(err) and exits 2."""

    exit_code = 2


class SpecError(PinnrunError):
    """A problem with one field of a spec file: `file:line: field.path: message`."""

    def __init__(self, file: str, line: int | None, field: str, message: str):
        self.file, self.line, self.field, self.message = file, line, field, message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class SpecErrors(SpecError):
    """Every error found in one pass over a spec, in file order (`--set`'s first): the CLI prints
    one line each. As a SpecError it is the first of them, so a caller that shows one line (or
    reads `.field`) shows where to start."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        first = errors[0]
        super().__init__(first.file, first.line, first.field, first.message)

    @property
    def lines(self) -> list[str]:
        return [str(e) for e in self.errors]


def printable(text: str) -> str:
    """`text` with every hidden character escaped as Python writes it (\\n, \\x1b, \\u202e):
    one line whatever the input, and nothing that can move a terminal's cursor."""
    return "".join(_escape(c) if unicodedata.category(c) in _HIDDEN else c for c in text)


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def shorten(text: str, limit: int) -> str:
    """At most about `limit` characters: the start and the end kept, the middle cut with `…`."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    head = limit * 2 // 3
    return f"{text[:head]}…({cut:,} characters cut)…{text[head + cut :]}"


def one_line(message: str) -> str:
    """An error message as the CLI prints it: printable, every long word (a value quoted in it)
    cut to MAX_TOKEN_CHARS, the whole cut to MAX_LINE_CHARS, the start and the end kept (where the
    error is, and what is wrong)."""
    text = printable(str(message))
    text = _LONG_TOKEN.sub(lambda m: shorten(m.group(), MAX_TOKEN_CHARS), text)
    return shorten(text, MAX_LINE_CHARS)


def os_error_line(err: OSError) -> str:
    """`path: strerror` (both paths for a rename or a link), as `ls` would say it."""
    reason = err.strerror or str(err) or type(err).__name__
    paths = [str(p) for p in (err.filename, err.filename2) if p is not None]
    return ": ".join([" -> ".join(paths), reason] if paths else [reason])
