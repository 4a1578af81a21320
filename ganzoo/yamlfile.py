"""Reading YAML the safe way: ``yaml.SafeLoader`` (no Python objects), a key given twice
in one mapping is an error rather than the last one silently winning, and a file or a
document too large for a settings file (``MAX_BYTES``, ``MAX_NODES``) is refused before
it costs more than that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .files import SETTINGS_LIMIT, read_limited

# Recipes and run configurations are a few KB; these bound what a mistaken or hostile
# file (``--recipe /dev/zero``, aliases that multiply) can cost.
MAX_BYTES = SETTINGS_LIMIT
MAX_NODES = 100_000  # values in the loaded document, counting each use of an alias in full


class DuplicateKeyError(yaml.constructor.ConstructorError):
    pass


class TooLarge(yaml.YAMLError):
    """A document past ``MAX_NODES`` values."""


class UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error follows
                continue
            if first is not None:
                raise DuplicateKeyError(
                    None, None, f"duplicate key {key!r} (first given on line {first.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (``DuplicateKeyError``, a
    ``yaml.MarkedYAMLError`` with the line of the second one) and turns nesting too deep
    for Python's stack into a ``yaml.YAMLError``, and more than ``MAX_NODES`` values once
    aliases are expanded into ``TooLarge``."""
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None
    _check_size(data)
    return data


def _check_size(data: Any) -> None:
    """Refuse a document whose values, each alias counted in full, exceed ``MAX_NODES``:
    aliases that multiply (``b: [*a, *a, ...]``) load as shared objects in a moment but
    become billions of values to anything that walks them. Stops at the limit."""
    pending, seen = [data], 0
    while pending:
        value = pending.pop()
        seen += 1
        if seen > MAX_NODES:
            raise TooLarge(f"more than {MAX_NODES:,} values (aliases counted in full): too large for a "
                                 "settings file")
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)


def read_bounded(path: Path) -> str:
    """A YAML file's text, refused (``files.TooLargeToRead``) past ``MAX_BYTES``."""
    return read_limited(path, MAX_BYTES, "settings file")
