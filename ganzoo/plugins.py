"""The one plugin manager: loads the ``ganzoo`` entry points once and fills the registries.

Every model, the built-in ACGAN included, arrives here through an installed entry point.
A plugin that fails to import or to register is reported (name and reason) and skipped;
the others keep working. A hook implementation that matches no specification fails the
plugin loudly. ``GANZOO_DISABLE_PLUGINS=name,...`` blocks plugins by entry-point name.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Callable

import pluggy

from . import hookspecs
from .errors import PluginError, did_you_mean
from .registry import ModelSpec, RecipeSource, Registry

ENTRY_POINT_GROUP = "ganzoo"
DISABLE_ENV = "GANZOO_DISABLE_PLUGINS"
BUILTIN_OWNER = "ganzoo"


@dataclass
class PluginInfo:
    """One plugin as `ganzoo plugins` shows it."""

    name: str
    distribution: str = ""
    version: str = ""
    location: str = ""
    status: str = "ok"  # ok | failed | disabled
    reason: str = ""


def _disabled_names() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class PluginHost:
    """Holds the plugin manager and the registries it fills."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.models: Registry[ModelSpec] = Registry("model")
        self.losses: Registry[Callable[..., Any]] = Registry("loss")
        self.recipes: Registry[RecipeSource] = Registry("recipe")
        self.tunings: Registry[RecipeSource] = Registry("recipe tuning")  # keyed "MODEL:RECIPE"
        self._register_builtin_recipes()

    # -- loading -------------------------------------------------------------------
    def load_entry_points(self) -> None:
        blocked = _disabled_names()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            info = PluginInfo(name=ep.name)
            if ep.dist is not None:
                info.distribution, info.version = ep.dist.metadata["Name"], ep.dist.version
            self.plugins.append(info)
            if ep.name in blocked:
                info.status, info.reason = "disabled", f"blocked by {DISABLE_ENV}"
                continue
            try:
                module = ep.load()
                info.location = str(getattr(module, "__file__", "") or ep.value)
                self.add_plugin(module, ep.name)
            except Exception as exc:  # a broken plugin must not take the others down
                info.status, info.reason = "failed", _describe(exc)
                print(f"ganzoo: plugin {ep.name!r} skipped: {info.reason}", file=sys.stderr)

    def add_plugin(self, plugin: object, name: str) -> None:
        """Register a plugin object (module or instance) and its models, losses, recipes.

        Raises :class:`PluginError` and leaves everything as it was when the plugin
        breaks a rule: an unknown hook, a wrong signature, a duplicate name.
        """
        try:
            self.pm.register(plugin, name=name)
        except ValueError as exc:  # pluggy: the same name or object registered twice
            raise PluginError(f"plugin {name!r}: {exc}") from None
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r}: {exc}") from None
        try:
            self._check_hook_names(name)
            self._collect(name)
        except Exception:
            self.pm.unregister(name=name)
            raise

    def _check_hook_names(self, name: str) -> None:
        """pluggy's check_pending(), with the close spec names in the message."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            found = re.search(r"unknown hook '([^']+)'", str(exc))
            hook = found.group(1) if found else "?"
            known = [h for h in dir(hookspecs) if h.startswith("register_")]
            raise PluginError(
                f"plugin {name!r} implements unknown hook {hook!r}{did_you_mean(hook, known)}"
            ) from None

    # -- registration --------------------------------------------------------------
    def _collect(self, name: str) -> None:
        """Call the plugin's hooks and commit what it registers only if all of it is valid."""
        models: list[ModelSpec] = []
        losses: list[tuple[str, Callable[..., Any]]] = []
        recipes: list[RecipeSource] = []

        def register_model(spec: ModelSpec) -> None:
            if not isinstance(spec, ModelSpec):
                raise PluginError(f"plugin {name!r} registered {spec!r}, not a ganzoo.ModelSpec")
            models.append(spec)

        def register_loss(loss_name: str, factory: Callable[..., Any]) -> None:
            if not callable(factory):
                raise PluginError(f"plugin {name!r}: loss {loss_name!r} is not callable")
            losses.append((loss_name, factory))

        def register_recipe(recipe_name: str, path: str | os.PathLike, model: str | None = None) -> None:
            if not Path(path).is_file():
                raise PluginError(f"plugin {name!r}: recipe {recipe_name!r} file {path} is missing")
            recipes.append(RecipeSource(recipe_name, str(path), name, model))

        self._call(name, "register_models", register_model)
        self._call(name, "register_losses", register_loss)
        self._call(name, "register_recipes", register_recipe)

        clashes = [s.name for s in models if s.name in self.models]
        clashes += [n for n, _ in losses if n in self.losses]
        clashes += [r.name for r in recipes if r.model is None and r.name in self.recipes]
        clashes += [tuning_key(r.model, r.name) for r in recipes if r.model and tuning_key(r.model, r.name) in self.tunings]
        if clashes:
            raise PluginError(f"plugin {name!r} registers names already taken: {', '.join(clashes)}")
        for spec in models:
            self.models.register(spec.name, spec, owner=name)
        for loss_name, factory in losses:
            self.losses.register(loss_name, factory, owner=name)
        for recipe in recipes:
            if recipe.model:
                self.tunings.register(tuning_key(recipe.model, recipe.name), recipe, owner=name)
            else:
                self.recipes.register(recipe.name, recipe, owner=name)

    def tuning(self, model: str, recipe: str) -> RecipeSource | None:
        """The file a plugin ships with ``model``'s settings for ``recipe``, if any."""
        key = tuning_key(model, recipe)
        return self.tunings.get(key) if key in self.tunings else None

    def tuned_models(self, recipe: str) -> list[str]:
        return sorted(self.tunings.get(key).model for key in self.tunings if self.tunings.get(key).name == recipe)

    def _call(self, plugin_name: str, hook_name: str, register: Callable[..., None]) -> None:
        caller = getattr(self.pm.hook, hook_name)
        plugin = self.pm.get_plugin(plugin_name)
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin:
                args = {"register": register}
                impl.function(*[args[a] for a in impl.argnames])

    def _register_builtin_recipes(self) -> None:
        folder = resources.files("ganzoo.builtin_recipes")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".yaml"):
                name = entry.name[: -len(".yaml")]
                self.recipes.register(name, RecipeSource(name, str(entry), BUILTIN_OWNER), BUILTIN_OWNER)


def tuning_key(model: str, recipe: str) -> str:
    return f"{model}:{recipe}"


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded from entry points on first use."""
    global _host
    if _host is None:
        host = PluginHost()
        host.load_entry_points()
        _host = host
    return _host


def forget() -> None:
    """Drop the loaded plugins; the next use loads the entry points again."""
    global _host
    _host = None


def reload() -> PluginHost:
    """Forget every loaded plugin and load the entry points again (used by tests)."""
    forget()
    return get_host()


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Add a plugin object at run time, as an entry point would (tests, notebooks)."""
    get_host().add_plugin(plugin, name or getattr(plugin, "__name__", repr(plugin)))


def unregister_plugin(name: str) -> None:
    """Remove a plugin added with :func:`register_plugin` and rebuild the registries."""
    host = get_host()
    kept = [(n, p) for n, p in host.pm.list_name_plugin() if n != name]
    fresh = PluginHost()
    fresh.plugins = host.plugins
    for plugin_name, plugin in kept:
        fresh.add_plugin(plugin, plugin_name)
    global _host
    _host = fresh


__all__ = [
    "PluginHost",
    "PluginInfo",
    "get_host",
    "reload",
    "register_plugin",
    "unregister_plugin",
]
