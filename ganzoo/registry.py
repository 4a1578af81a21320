"""Named registries for models, losses and recipes.

Modelled on torchvision's ``models/_api.py``: register under a unique name, get by name,
list with a shell-style wildcard. A duplicate name is an error; an unknown name is an
error that suggests the close matches.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import PluginError, UsageError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry mapping that refuses duplicates and explains unknown names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._owners: dict[str, str] = {}

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
            raise UsageError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)}"
            ) from None

    def owner(self, name: str) -> str:
        return self._owners.get(name, "")

    def list(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class ModelSpec:
    """What a plugin registers for one GAN model.

    ``build(**settings)`` returns ``(generator, discriminator)``. It receives the model's
    own settings (the keys of ``defaults``) plus the data-derived ``channels``,
    ``image_size`` and ``num_classes``.

    ``train_defaults`` are the model's own values for training settings (``lr``,
    ``betas``, ``n_critic``, ...): they replace the core's defaults for this model, and a
    recipe or ``--set`` still overrides them. ``conditional`` says whether the generator
    takes class labels (``"optional"`` when a model setting decides it).
    """

    name: str
    build: Callable[..., tuple[Any, Any]]
    loss: str
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    conditional: bool | str = True
    train_defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecipeSource:
    """Where a recipe comes from: a YAML file and who provided it.

    With ``model`` set, the file is that model's tuning for the recipe ``name`` (a plugin
    ships one per data set): settings applied on top of the recipe when that model trains
    on it.
    """

    name: str
    path: str
    owner: str
    model: str | None = None
