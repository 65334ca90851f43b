"""`--set a.b.c=value` overrides applied to the raw spec data before validation."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from pinnrun.errors import PinnrunError, printable, shorten


def parse_override(text: str) -> tuple[tuple, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise PinnrunError(f"--set {_shorten(text)}: expected KEY=VALUE, e.g. training.adam.steps=2000")
    path = tuple(int(p) if p.isdigit() else p for p in key.strip().split("."))
    from pinnrun.spec.yaml_bounds import YAMLRefused
    from pinnrun.spec.yaml_lines import load_value

    try:
        value = load_value(raw) if raw.strip() else ""  # the same YAML 1.2 rules as spec files
    except YAMLRefused as err:  # too deep, too large once aliases expand, control characters
        raise PinnrunError(f"--set {_shorten(key.strip())}: {err}") from None
    except yaml.YAMLError:
        value = raw  # not YAML: keep it as a string; validation decides
    if "#" in raw and "#" not in repr(value):
        # YAML read ` #...` as a comment and dropped it: `--set 'pde.u=u_xx # + f'` would silently train u_xx
        raise PinnrunError(
            f"--set {_shorten(key.strip())}: '#' starts a YAML comment, which would drop "
            f"'{_shorten(raw[raw.index('#') :])}' from the value"
        )
    return path, value


def _shorten(text: str) -> str:
    """An error line quotes the argument on one line, not a megabyte of it."""
    return printable(shorten(text, 80))


def apply_overrides(data: Any, overrides: list[str]) -> tuple[Any, set[tuple]]:
    """Return a copy of `data` with overrides applied, and the set of overridden paths."""
    data = copy.deepcopy(data) if data is not None else {}
    touched: set[tuple] = set()
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for i, part in enumerate(path[:-1]):
            if isinstance(node, dict):
                node = node.setdefault(part, {})
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                where = ".".join(map(str, path[: i + 1]))
                raise PinnrunError(f"--set {_shorten(text)}: '{where}' is not a mapping or list index")
        last = path[-1]
        if isinstance(node, dict):
            node[last] = value
        elif isinstance(node, list) and isinstance(last, int) and last < len(node):
            node[last] = value
        else:
            raise PinnrunError(f"--set {_shorten(text)}: cannot set '{'.'.join(map(str, path))}'")
        touched.add(path)
    return data, touched
