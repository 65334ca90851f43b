"""JSON Schema of the problem spec and of the cluster spec, for editors (`pinnrun schema`).

Made from the same pydantic models that validate the files, so it cannot drift from them. It
checks the shape of a file (fields, types, bounds, names); what needs the whole spec (expressions,
which boundary parts exist, ...) only `pinnrun validate` can check."""

from __future__ import annotations

from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Pydantic writes a bound on an optional field (`int | None = Field(None, ge=0)`) under its own
# name; JSON Schema's names for them:
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
KINDS = ("problem", "cluster")


def json_schema(kind: str) -> dict:
    if kind == "problem":
        from pinnrun.spec.schema import Spec as model

        title, about = "pinnrun problem spec", "A PDE problem for `pinnrun train` (docs/spec.md)."
    elif kind == "cluster":
        from pinnrun.launch.cluster import Cluster as model

        title, about = (
            "pinnrun cluster spec",
            "Hosts and launch settings for `pinnrun train --cluster` (docs/cluster.md).",
        )
    else:
        raise ValueError(f"unknown schema '{kind}' (kinds: {', '.join(KINDS)})")
    schema = _standard(model.model_json_schema())
    return {"$schema": DIALECT, **schema, "title": title, "description": about}


def _standard(node: Any) -> Any:
    if isinstance(node, list):
        return [_standard(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "$defs"):  # names, not keywords
            out[key] = {name: _standard(v) for name, v in value.items()}
        else:
            out[_BOUNDS.get(key, key)] = _standard(value)
    return out
