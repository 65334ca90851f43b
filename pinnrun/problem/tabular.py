"""One reader for the data files a spec names (references, observations): .npz, .csv, .mat.

`read_arrays` gives each requested array as float64 in its stored shape;
`read_points` gives columns of one value per point. Every refusal is a
TableRefused whose message is one line saying what is wrong and what is
allowed; the caller adds the file name and the spec field.

Sizes are bounded before data is read: a .npz by its .npy headers (npz.py),
a .csv by its byte size, a .mat by its byte size and then by the shapes its
variable headers declare.
"""

from __future__ import annotations

import csv
import io
import math
import os
import warnings
from pathlib import Path

import numpy as np

from pinnrun.numbers import byte_size
from pinnrun.spec.regular_file import FileRefused, open_regular

SUFFIXES = (".npz", ".csv", ".mat")
_MAT_NUMERIC = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"}


class TableRefused(ValueError):
    """One line saying what is wrong with a data file (the caller names the file)."""


def read_arrays(path: str | Path, names: dict[str, str], max_bytes: int) -> dict[str, np.ndarray]:
    """Our name -> the float64 array stored under `names[ours]`, shape kept, every value finite."""
    suffix = Path(path).suffix.lower()
    readers = {".npz": _read_npz, ".csv": _read_csv, ".mat": _read_mat}
    if suffix not in readers:
        raise TableRefused(f"unknown file type '{suffix or '(no suffix)'}': data files are .npz, .csv or .mat")
    stored = readers[suffix](Path(path), list(dict.fromkeys(names.values())), max_bytes)
    arrays = {}
    for ours, theirs in names.items():
        array = stored[theirs]
        if array.size == 0:
            raise TableRefused(f"{_kind(suffix)} '{theirs}' is empty")
        _require_finite(array, theirs, suffix)
        arrays[ours] = array
    return arrays


def read_points(path: str | Path, names: dict[str, str], max_bytes: int) -> dict[str, np.ndarray]:
    """Our name -> a 1-D float64 column; every column holds one value per point (n >= 1)."""
    arrays = {ours: a.ravel() for ours, a in read_arrays(path, names, max_bytes).items()}
    lengths = {names[ours]: len(a) for ours, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"'{k}' {n:,}" for k, n in lengths.items())
        raise TableRefused(
            f"{_kind(Path(path).suffix.lower())}s of different lengths ({shown}); each must hold one value per point"
        )
    return arrays


def _kind(suffix: str) -> str:
    """What the file calls a named array."""
    return {".csv": "column", ".mat": "variable"}.get(suffix, "array")


def _require_finite(array: np.ndarray, name: str, suffix: str) -> None:
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    first = np.unravel_index(int(np.argmax(bad)), array.shape)
    where = f"data row {first[0] + 1}" if suffix == ".csv" else f"index {tuple(int(i) for i in first)}"
    raise TableRefused(
        f"{_kind(suffix)} '{name}' holds {int(bad.sum()):,} non-finite value(s) (NaN or inf), "
        f"the first at {where}; every value must be a finite number"
    )


def _file_size(path: Path, max_bytes: int) -> None:
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
    except FileRefused as err:
        raise TableRefused(str(err)) from None
    if size > max_bytes:
        raise TableRefused(f"{byte_size(size)}, larger than the limit of {byte_size(max_bytes)} for a data file")


def _missing(wanted: list[str], has, what: str) -> None:
    missing = [n for n in wanted if n not in has]
    if missing:
        raise TableRefused(f"lacks {what}(s) {', '.join(missing)} (has {', '.join(has) or 'none'})")


# -- .npz -------------------------------------------------------------------------------


def _read_npz(path: Path, wanted: list[str], max_bytes: int) -> dict[str, np.ndarray]:
    from pinnrun.problem.npz import NpzRefused, load_npz

    try:  # its own messages: "lacks array(s) ...", "array 'u' holds non-finite values (NaN or inf)"
        return load_npz(path, wanted, max_bytes)
    except NpzRefused as err:
        raise TableRefused(str(err)) from None


# -- .csv -------------------------------------------------------------------------------


def _read_csv(path: Path, wanted: list[str], max_bytes: int) -> dict[str, np.ndarray]:
    """A header row of column names, then rows of numbers separated by commas."""
    from pinnrun.spec.regular_file import read_capped

    _file_size(path, max_bytes)
    try:
        raw = read_capped(path, max_bytes, "a data file")
    except FileRefused as err:  # grew since the size check
        raise TableRefused(str(err)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise TableRefused(f"not UTF-8 text (byte {err.start:,}); a .csv must be text") from None
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None:
        raise TableRefused("is empty; a .csv needs a header row of column names and rows of numbers")
    header = [h.strip() for h in next(csv.reader([lines[start].lstrip("#")]))]
    doubled = sorted({h for h in header if header.count(h) > 1 and h in wanted})
    if doubled:
        raise TableRefused(f"column '{doubled[0]}' appears twice in the header row")
    _missing(wanted, header, "column")
    body = lines[start + 1 :]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": a header without rows, refused below
            table = np.loadtxt(
                io.StringIO("\n".join(body)), delimiter=",", ndmin=2, dtype=np.float64, quotechar='"', comments=None
            )
    except ValueError:
        table = None  # a text column, a short row, a word among numbers: found and named line by line below
    if table is None or table.shape[1] != len(header):
        columns = _scan_csv(body, start + 2, header, wanted)
    else:
        columns = {name: table[:, header.index(name)] for name in wanted}
    if not len(next(iter(columns.values()))):
        raise TableRefused("has a header row but no rows of numbers")
    return columns


def _scan_csv(body: list[str], first_line: int, header: list[str], wanted: list[str]) -> dict[str, np.ndarray]:
    """The wanted columns, row by row; the first malformed row named by its line in the file.
    Only on the slow path: a .csv that np.loadtxt could not read whole (e.g. a text column)."""
    index = {name: header.index(name) for name in wanted}
    values: dict[str, list[float]] = {name: [] for name in wanted}
    for number, row in enumerate(csv.reader(body), start=first_line):
        if not row or all(not field.strip() for field in row):
            continue
        if len(row) != len(header):
            raise TableRefused(f"line {number} has {len(row)} field(s); the header row has {len(header)}")
        for name, i in index.items():
            try:
                values[name].append(float(row[i]))
            except ValueError:
                raise TableRefused(f"column '{name}', line {number}: {row[i].strip()[:40]!r} is not a number") from None
    return {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}


# -- .mat -------------------------------------------------------------------------------


def _read_mat(path: Path, wanted: list[str], max_bytes: int) -> dict[str, np.ndarray]:
    """MATLAB v4 to v7.2 (scipy.io); a variable's shape and class come from its header first."""
    import scipy.io
    from scipy.io.matlab import matfile_version

    _file_size(path, max_bytes)
    try:
        with open_regular(path) as f:
            major, _ = matfile_version(f)
            if major == 2:
                raise TableRefused("MATLAB v7.3 (HDF5) files are not supported; save with -v7")
            f.seek(0)
            headers = {name: (tuple(shape), kind) for name, shape, kind in scipy.io.whosmat(f)}
            _missing(wanted, headers, "variable")
            for name in wanted:
                shape, kind = headers[name]
                if kind not in _MAT_NUMERIC:
                    raise TableRefused(f"variable '{name}' is a MATLAB {kind} array; data must be real numbers")
            total = sum(math.prod(headers[name][0]) * 8 for name in wanted)
            if total > max_bytes:
                raise TableRefused(
                    f"its variables hold {byte_size(total)} as float64; the limit is {byte_size(max_bytes)}"
                )
            f.seek(0)
            data = scipy.io.loadmat(f, variable_names=wanted, squeeze_me=False)
    except TableRefused:
        raise
    except FileRefused as err:
        raise TableRefused(str(err)) from None
    except Exception as err:  # noqa: BLE001 - scipy's readers raise many kinds on a corrupt file
        raise TableRefused(f"cannot read as .mat: {' '.join(str(err).split())[:200]}") from None
    arrays = {}
    for name in wanted:
        array = np.asarray(data[name])
        if array.dtype.kind not in "iuf":  # complex values, or a class whosmat did not report
            raise TableRefused(f"variable '{name}' holds {array.dtype}; data must be real numbers")
        arrays[name] = array.astype(np.float64)
    return arrays
