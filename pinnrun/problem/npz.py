"""Reference .npz files read with a cap on what they decompress to.

`np.load` decompresses a whole member whatever its size: a 3.7 MB zip bomb
became 1.9 GB. Here the shape and dtype come from each member's .npy header
(its first bytes), the total is checked against a cap before any array data
is read, and a member is read only up to the size its header declares, so a
member holding more than it says is never decompressed past that.
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy

from pinnrun.numbers import byte_size
from pinnrun.spec.limits import MAX_REFERENCE_MEMBERS
from pinnrun.spec.regular_file import FileRefused, open_regular

_CHUNK = 16 * 1024 * 1024  # bytes decompressed per read
_NUMERIC_KINDS = "iuf"  # integers and floats; not bool, complex, strings, records or objects


class NpzRefused(ValueError):
    """One line saying what is wrong with the file (the caller names the file)."""


@dataclass(frozen=True)
class ArrayHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool

    @property
    def nbytes(self) -> int:
        """Bytes of array data in the file, decompressed."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def loaded_bytes(self) -> int:
        """Bytes in memory once loaded: as float64, or as stored when wider (or both, briefly)."""
        return math.prod(self.shape) * max(self.dtype.itemsize, 8)


def load_npz(path: str | Path, names: list[str], cap: int) -> dict[str, np.ndarray]:
    """The named arrays as float64, all finite, having decompressed at most `cap` bytes."""
    with _open_zip(path) as archive:

        def read() -> dict[str, np.ndarray]:
            headers = _headers(archive, cap)
            missing = [n for n in names if n not in headers]
            if missing:
                raise NpzRefused(f"lacks array(s) {', '.join(missing)} (has {', '.join(headers) or 'none'})")
            return {n: _read_array(archive, n, headers[n]) for n in names}

        return _guarded(read)


@contextmanager
def _open_zip(path: str | Path) -> Iterator[zipfile.ZipFile]:
    try:
        f = open_regular(path)
    except FileRefused as err:
        raise NpzRefused(str(err)) from None
    with f:
        _guarded(lambda: _check_member_count(f))
        with _guarded(lambda: zipfile.ZipFile(f)) as archive:
            yield archive


def _guarded(read):
    """Whatever a corrupt archive raises, as one NpzRefused line."""
    try:
        return read()
    except NpzRefused:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as err:  # RuntimeError: an encrypted member; NotImplementedError: a compression
        raise NpzRefused(f"cannot read as .npz: {err}") from None


def _check_member_count(f: BinaryIO) -> None:
    """ZipFile reads the whole directory into objects (~0.5 KB each); count its entries first.

    The count is in the end-of-central-directory record, the last 22 bytes plus
    any archive comment (at most 64 KiB). A zip64 archive says 0xFFFF here.
    """
    size = f.seek(0, 2)
    tail_size = min(size, 22 + 0xFFFF)
    f.seek(size - tail_size)
    tail = f.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return  # not a zip: ZipFile says so
    (entries,) = struct.unpack("<H", tail[at + 10 : at + 12])
    if entries > MAX_REFERENCE_MEMBERS:
        raise NpzRefused(f"{entries:,} members; the limit is {MAX_REFERENCE_MEMBERS:,}")
    f.seek(0)


def _headers(archive: zipfile.ZipFile, cap: int) -> dict[str, ArrayHeader]:
    headers = {}
    for info in archive.infolist():
        if info.filename.endswith(".npy"):
            name = info.filename[: -len(".npy")]
            with archive.open(info) as member:
                headers[name] = _read_header(member, name)
    total = sum(h.loaded_bytes for h in headers.values())
    if total > cap:
        raise NpzRefused(f"its arrays hold {byte_size(total)} uncompressed (as float64); the limit is {byte_size(cap)}")
    return headers


def _read_header(member: BinaryIO, name: str) -> ArrayHeader:
    try:
        version = npy.read_magic(member)
        if version == (1, 0):
            shape, fortran_order, dtype = npy.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy.read_array_header_2_0(member)
        else:
            raise NpzRefused(f"array '{name}': .npy format version {version[0]}.{version[1]} is not supported")
    except NpzRefused:
        raise
    except ValueError as err:
        raise NpzRefused(f"array '{name}' has no valid .npy header: {err}") from None
    if any(d < 0 for d in shape):
        raise NpzRefused(f"array '{name}' has a negative dimension in its shape {shape}")
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise NpzRefused(f"array '{name}' holds {dtype}; reference data must be integers or floats")
    return ArrayHeader(tuple(shape), dtype, fortran_order)


def _read_array(archive: zipfile.ZipFile, name: str, header: ArrayHeader) -> np.ndarray:
    flat = np.empty(math.prod(header.shape), dtype=header.dtype)
    into = memoryview(flat).cast("B")
    got = 0
    with archive.open(f"{name}.npy") as member:
        _read_header(member, name)
        while got < header.nbytes:  # in chunks straight into the array: memory stays ~1x the data
            chunk = member.read(min(header.nbytes - got, _CHUNK))
            if not chunk:
                break
            into[got : got + len(chunk)] = chunk
            got += len(chunk)
        extra = member.read(1)  # never more than the header declared, and one byte to see if it holds more
    if got < header.nbytes:
        raise NpzRefused(f"array '{name}' is truncated ({got:,} of {header.nbytes:,} bytes)")
    if extra:
        raise NpzRefused(f"array '{name}' holds more data than its header declares ({header.nbytes:,} bytes)")
    order = "F" if header.fortran_order else "C"
    array = flat.reshape(header.shape, order=order).astype(np.float64, copy=False)
    if not np.isfinite(array).all():  # after the cast: a float128 beyond float64's range becomes inf
        raise NpzRefused(f"array '{name}' holds non-finite values (NaN or inf)")
    return array
