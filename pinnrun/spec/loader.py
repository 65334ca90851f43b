"""Load a spec file: YAML → overrides → schema → cross-field checks.

Every failure becomes one `SpecError` line pointing at the file, line and
field, before any training process starts.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from pinnrun.errors import SpecError, SpecErrors
from pinnrun.spec.overrides import apply_overrides
from pinnrun.spec.schema import PATTERN_HELP, Spec
from pinnrun.spec.yaml_lines import LocatedData, format_path, load_located_file


@dataclass(frozen=True)
class LoadedSpec:
    spec: Spec
    constants: dict[str, float]  # evaluated values of spec.constants
    path: Path  # the file it came from (relative paths resolve beside it)
    expressions: dict = field(default_factory=dict)  # spec path -> parsed Expression (parsed once, here)
    at: LocatedData | None = None  # where each field is, for located errors later

    def error(self, path: tuple, message: str):
        """A located error for a check made after loading (the problem layer's)."""
        return (
            self.at.error(path, message)
            if self.at is not None
            else SpecError(self.path, None, ".".join(map(str, path)), message)
        )


def load_spec(path: str | Path, overrides: list[str] = ()) -> LoadedSpec:
    from pinnrun.spec.validate import check_semantics  # imports expressions; keep load light

    located = load_located_file(path)
    data, touched = apply_overrides(located.data, list(overrides))
    located = _Located(data, located.lines, located.file, touched)
    if not isinstance(data, dict):
        raise located.error((), "a spec must be a YAML mapping")
    spec = validate_model(Spec, located)
    constants, expressions = check_semantics(spec, located)
    return LoadedSpec(spec, constants, Path(path).resolve(), expressions, located)


MAX_REPORTED = 20  # errors listed from one pass; the rest are counted


def validate_model(model: type[BaseModel], located: LocatedData):
    """Schema-check located data: every problem found, one SpecError each, in file order
    (SpecErrors when there are several)."""
    try:
        return model.model_validate(located.data)
    except ValidationError as err:
        errors = _spec_errors(err, located, model)
        raise (errors[0] if len(errors) == 1 else SpecErrors(errors)) from None


def _spec_errors(err: ValidationError, located: LocatedData, model: type[BaseModel]) -> list[SpecError]:
    """One error per field (a union's members each report the same field: the first is kept),
    sorted by line, `--set`'s (no line) first."""
    by_field: dict[str, SpecError] = {}
    for detail in err.errors(include_url=False):
        found = _spec_error(detail, located, model)
        by_field.setdefault(found.field, found)
    errors = sorted(by_field.values(), key=lambda e: e.line or 0)  # stable: pydantic's order within a line
    if len(errors) > MAX_REPORTED:
        rest = len(errors) - MAX_REPORTED + 1
        errors = errors[: MAX_REPORTED - 1] + [SpecError(located.file, None, "", f"... and {rest} more errors")]
    return errors


def dump_spec(spec: Spec) -> str:
    """The resolved spec as YAML that `load_spec` accepts again."""
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False)


class _Located(LocatedData):
    """Line lookup that blames `--set` for overridden fields instead of a file line."""

    def __init__(self, data, lines, file, touched: set[tuple]):
        super().__init__(data, lines, file)
        self.touched = touched

    def error(self, path: tuple, message: str) -> SpecError:
        path = tuple(path)
        inside = any(path[: len(t)] == t for t in self.touched)  # in a value an override set
        created = path not in self.lines and any(t[: len(path)] == path for t in self.touched)  # a key it added
        if inside or created:
            return SpecError(self.file, None, f"--set {format_path(path)}", message)
        return super().error(path, message)


def _spec_error(first: dict, located: LocatedData, model: type[BaseModel]) -> SpecError:
    path = _data_path(first["loc"], located.data, keep_last=first["type"] == "missing")
    message = first["msg"][0].lower() + first["msg"][1:]
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, path[:-1])
        message = f"unknown key '{path[-1]}'" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    elif first["type"] == "missing":
        message = "required field is missing"
    elif first["type"] == "string_pattern_mismatch":
        pattern = first.get("ctx", {}).get("pattern")
        message = f"{PATTERN_HELP.get(pattern, f'does not have the form {pattern}')} (got {first['input']!r})"
    elif "input" in first and not isinstance(first["input"], (dict, list)):
        message += f" (got {first['input']!r})"
    if message.startswith("value error, "):
        message = message[len("value error, ") :]
    return located.error(path, message)


def _data_path(loc: tuple, data, keep_last: bool) -> tuple:
    """Drop pydantic's union/type tags from `loc`, keeping only real data keys."""
    path, node = [], data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif keep_last and i == len(loc) - 1 and isinstance(node, dict):
            path.append(part)
    return tuple(path)


def _allowed_keys(model: type[BaseModel], path: tuple) -> list[str]:
    """The keys the schema allows at `path` (for 'unknown key' messages)."""
    annotation = model
    for part in path:
        annotation = _structured(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            annotation = field.annotation if field else None
        elif typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            return []
    annotation = _structured(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _structured(annotation):
    """From `X | None` or a Union, the member that is a model or a dict."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is dict:
        return annotation
    for arg in typing.get_args(annotation):
        found = _structured(arg)
        if found is not None:
            return found
    return None
