"""Named registries, and what plugins register in them.

Modelled on torchvision's ``models/_api.py``: register under a unique name, get by name,
list with a shell-style wildcard. A duplicate name is an error; an unknown name is an
error that suggests the close matches.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import PluginError, UsageError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry mapping that refuses duplicates and explains unknown names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self.note = ""  # said after an unknown name, e.g. which plugins are disabled
        self.disabled_plugins: set[str] = set()  # a name asked for that is one of them gets its own line
        self.contested: dict[str, dict[str, T]] = {}  # name -> {plugin: its entry}, for a name plugins both registered
        self.contest_note: dict[str, str] = {}  # name -> who registered it and how to choose

    def register(self, name: str, entry: T, owner: str = "") -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"{owner or 'a plugin'} registered a {self.kind} without a name")
        if name in self._entries:
            raise PluginError(
                f"{self.kind} {name!r} is registered twice "
                f"(by {self._owners[name] or 'unknown'} and by {owner or 'unknown'})"
            )
        self._entries[name] = entry
        self._owners[name] = owner

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            if name in self.contested:
                raise UsageError(f"{self.kind} {name!r} {self.contest_note[name]}") from None
            if name in self.disabled_plugins:
                raise UsageError(f"{self.kind} {name!r} is not available: its plugin {name!r} is disabled by "
                                 "GANZOO_DISABLE_PLUGINS") from None
            raise UsageError(f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)}{self.note}") from None

    def owner(self, name: str) -> str:
        return self._owners.get(name, "")

    def of_plugin(self, name: str, plugin: str | None) -> T:
        """``name``'s entry; for a name plugins contest, the one ``plugin`` registered (a run
        made by that plugin keeps working), and without one the refusal of :meth:`get`."""
        if plugin is not None and plugin in self.contested.get(name, {}):
            return self.contested[name][plugin]
        return self.get(name)

    def list(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def in_order(self) -> list[T]:
        """Every entry, in the order it was registered."""
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class RecipeSource:
    """Where a recipe comes from: a YAML file (or, for a tuning, a mapping) and who
    provided it. With ``model`` set it is that model's tuning of the recipe ``name``."""

    name: str
    path: str
    owner: str
    model: str | None = None
    settings: dict[str, Any] | None = None  # a tuning given as a mapping instead of a file


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset a plugin registers: ``load(root, *, train, channels, image_size)``."""

    name: str
    load: Callable[..., Any]
    description: str = ""


@dataclass(frozen=True)
class LoggerSpec:
    """A training logger a plugin registers: ``factory(run_dir, settings)``."""

    name: str
    factory: Callable[..., Any]
    description: str = ""


@dataclass(frozen=True)
class CallbackSpec:
    """A training callback a plugin registers: ``factory(settings)`` -> a ganzoo.Callback."""

    name: str
    factory: Callable[..., Any]
    description: str = ""
