"""User-facing errors: one line, no traceback, exit status 2."""
from __future__ import annotations


class PinnrunError(Exception):
    """An error caused by the user's input; the CLI prints str(err) and exits 2."""

    exit_code = 2


class SpecError(PinnrunError):
    """A problem with one field of a spec file: `file:line: field.path: message`."""

    def __init__(self, file: str, line: int | None, field: str, message: str):
        self.file, self.line, self.field, self.message = file, line, field, message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")
