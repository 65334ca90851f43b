"""Open input files so that neither a FIFO nor a device can hang or flood a read.

`open()` on a FIFO waits for a writer and `/dev/zero` never ends, so a file
is opened non-blocking, checked with fstat on that same descriptor (no race
with a rename between a check and the open), and read with a byte cap.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from pinnrun.numbers import byte_size

_KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


class FileRefused(ValueError):
    """One line saying why the file was not read (the caller adds the file name)."""


def open_regular(path: str | Path) -> BinaryIO:
    """A binary reader for `path`, refused unless it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting
    except OSError as err:
        raise FileRefused(f"cannot read: {err.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS.items() if test(mode)), "not a plain file")
        raise FileRefused(f"not a regular file ({kind})")
    return os.fdopen(fd, "rb")


def read_capped(path: str | Path, cap: int, what: str) -> bytes:
    """The bytes of a regular file of at most `cap` bytes; reads no more than cap + 1."""
    with open_regular(path) as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise FileRefused(f"larger than {byte_size(cap)}, the limit for {what}")
    return data
