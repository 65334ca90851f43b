"""JSON that every JSON reader accepts: no bare NaN or Infinity.

Python's json writes a diverged loss as `NaN`, which is not JSON (jq, JavaScript,
strict parsers refuse the file). A non-finite number is written as null, and what
it was is kept beside it: the top-level field `non_finite` maps the dotted path
of each such value to "nan", "inf" or "-inf", e.g.
`{"final_loss": null, ..., "non_finite": {"final_loss": "nan"}}`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

NON_FINITE = "non_finite"


def strict_json(data: dict, **dumps_args) -> str:
    found: dict[str, str] = {}
    clean = _finite(data, "", found)
    if found and isinstance(clean, dict):
        clean[NON_FINITE] = {**(clean.get(NON_FINITE) or {}), **found}
    return json.dumps(clean, allow_nan=False, **dumps_args)


def _finite(value, path: str, found: dict[str, str]):
    """A copy with numpy values made plain and non-finite floats None (noted in `found`)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        value = value.tolist()
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        found[path or "."] = "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
        return None
    if isinstance(value, dict):
        return {k: _finite(v, f"{path}.{k}" if path else str(k), found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def restore_non_finite(record: dict) -> dict:
    """Put back what strict_json wrote as null: `non_finite` maps
    dotted paths to nan/inf/-inf (the inverse of strict_json). Only paths through mappings; anything odd is left alone."""
    marks = record.get(NON_FINITE)
    if not isinstance(marks, dict):
        return record
    for path, kind in marks.items():
        value = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(kind)
        *parents, last = str(path).split(".")
        target = record
        for key in parents:
            target = target.get(key) if isinstance(target, dict) else None
        if value is not None and isinstance(target, dict) and target.get(last, 0) is None:
            target[last] = value
    return record


def loads(text: str):
    """Parse a file strict_json wrote (or an older one with bare NaN) with its non-finite values put back."""
    value = json.loads(text)
    return restore_non_finite(value) if isinstance(value, dict) else value


def read_object(path: Path) -> dict:
    """A JSON object file (summary.json) with its non-finite values put back; {} when it is missing,
    unreadable or not an object (a run whose ranks wrote nothing usable is then reported as failed)."""
    try:
        value = loads(Path(path).read_text(errors="replace"))
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
