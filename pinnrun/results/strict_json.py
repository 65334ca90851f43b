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
