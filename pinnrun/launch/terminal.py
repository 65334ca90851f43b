"""The launcher's terminal may go away under it: a closed ssh session or terminal window
sends SIGHUP, and every later write to it fails (EIO). The run must still stop cleanly
(SIGHUP is a stop request like any other) and record why, so output to a terminal that
is gone is dropped instead of raised. Measured before this: the launcher died of the
failed write 2.3 s after the hang-up, with no summary written."""

from __future__ import annotations

from rich.console import Console


class DroppingWhenGone:
    """A text stream that stops writing, silently, after its first failed write."""

    def __init__(self, stream):
        self.stream, self.gone = stream, False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self.stream.write(text)
            except OSError:  # EIO from a hung-up terminal, EPIPE from a closed pipe
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except OSError:
                self.gone = True

    def __getattr__(self, name):  # isatty, fileno, encoding: the stream's own
        return getattr(self.stream, name)


def survive_hangup(console: Console) -> None:
    """From now on `console` drops what it cannot write."""
    if not isinstance(console.file, DroppingWhenGone):
        console.file = DroppingWhenGone(console.file)
