"""Load YAML into plain data while remembering the line of every field.

Validation errors must point at `file:line: field.path`, so we compose the
YAML node tree (which carries marks) instead of calling safe_load alone.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from pinnrun.errors import SpecError
from pinnrun.spec.limits import MAX_SPEC_FILE_BYTES
from pinnrun.spec.regular_file import FileRefused, read_capped
from pinnrun.spec.yaml_bounds import YAMLRefused, check_characters, check_structure, decode_utf8

Path_ = tuple  # a field path: ("training", "adam", "steps") or ("layers", 2)


class LocatedData:
    """Plain data parsed from YAML plus the 1-based line of each field path."""

    def __init__(self, data: Any, lines: dict[tuple, int], file: str):
        self.data, self.lines, self.file = data, lines, file

    def line_of(self, path: tuple) -> int | None:
        """Line of the deepest existing prefix of `path` (a missing key points at its parent)."""
        for cut in range(len(path), -1, -1):
            if tuple(path[:cut]) in self.lines:
                return self.lines[tuple(path[:cut])]
        return None

    def error(self, path: tuple, message: str) -> SpecError:
        return SpecError(self.file, self.line_of(path), format_path(path), message)


def format_path(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int], keys: yaml.SafeLoader) -> None:
    # Recursion is safe: check_structure has bounded the depth and the expanded size.
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = keys.construct_object(key_node)  # the key as the data holds it
            _walk(value_node, path + (key,), lines, keys)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines, keys)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (a silent overwrite hides mistakes)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (first on line {seen[key]})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node, deep=False):
        # PyYAML raises a bare ValueError, without a line, for `!!int abc`, a 5000-digit
        # integer or `2001-99-99`; give it the node's mark like any other YAML error.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as err:
            kind = node.tag.rsplit(":", 1)[-1]
            reason = "more than 4300 digits" if "digits" in str(err) else str(err)
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this {kind}: {reason}", node.start_mark
            ) from None


# YAML 1.2 booleans: only true/false. YAML 1.1 also reads on/off/yes/no as
# booleans, which turns a condition's `on: left` key into True.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_bounded_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    # Hex and octal have no digit limit in Python; an int past float range is no use
    # in any field, and printing one (in an error line) raises past 4300 digits.
    value = loader.construct_yaml_int(node)
    if value.bit_length() > 1024:
        raise ValueError("beyond the range of a float")
    return value


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_bounded_int)


# YAML 1.2 floats: 1e4 and 1.e-3 are numbers (YAML 1.1 wants a dot and a signed exponent).
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789.")
)


def load_value(text: str):
    """One YAML value with the spec files' rules (for --set).

    Raises YAMLRefused past the bounds, yaml.YAMLError for text that is not YAML.
    """
    check_characters(text)
    check_structure(text, _UniqueKeyLoader)
    return yaml.load(text, Loader=_UniqueKeyLoader)


def load_located(text: str, file: str) -> LocatedData:
    try:
        check_characters(text)
        check_structure(text, _UniqueKeyLoader)  # before PyYAML recurses or expands aliases
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except YAMLRefused as err:
        raise SpecError(file, err.line, "", str(err)) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError(file, line, "", f"invalid YAML: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise SpecError(file, None, "", f"invalid YAML: {err}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines, _UniqueKeyLoader(""))
    return LocatedData(data, lines, file)


def load_located_file(path: str | Path) -> LocatedData:
    """A spec or cluster file: a regular file of bounded size, strict UTF-8."""
    path = Path(path)
    try:
        text = decode_utf8(read_capped(path, MAX_SPEC_FILE_BYTES, "a spec or cluster file"))
    except FileRefused as err:
        raise SpecError(str(path), None, "", str(err)) from None
    except YAMLRefused as err:
        raise SpecError(str(path), err.line, "", str(err)) from None
    return load_located(text, str(path))
