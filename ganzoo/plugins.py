"""The one plugin manager: loads the ``ganzoo`` entry points once and fills the registries.

Every model, the built-in ones included, arrives here through an installed entry point;
so do the standard losses, datasets, metrics and loggers (ganzoo's own ``standard``
plugin, ``ganzoo/standard.py``). A plugin that fails to import or to register is reported
(name and reason) and skipped; the others keep working. A hook implementation that
matches no specification fails the plugin loudly. ``GANZOO_DISABLE_PLUGINS=name,...``
blocks plugins by entry-point name.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Callable

import pluggy

from . import hookspecs
from .errors import PluginError, did_you_mean
from .models import ModelSpec
from .registry import DatasetSpec, LoggerSpec, RecipeSource, Registry

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
        self.datasets: Registry[DatasetSpec] = Registry("dataset")
        self.metrics: Registry[Any] = Registry("metric")
        self.loggers: Registry[LoggerSpec] = Registry("logger")
        self._register_builtin_recipes()

    def registries(self) -> list[Registry[Any]]:
        return [self.models, self.losses, self.recipes, self.tunings, self.datasets, self.metrics, self.loggers]

    # -- loading -------------------------------------------------------------------
    def load_entry_points(self) -> None:
        blocked = _disabled_names()
        gathered: dict[str, dict[str, list[tuple[str, Any]]]] = {}
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
                gathered[ep.name] = self._admit(module, ep.name)
            except Exception as exc:  # a broken plugin must not take the others down
                info.status, info.reason = "failed", _describe(exc)
                print(f"ganzoo: plugin {ep.name!r} skipped: {info.reason}", file=sys.stderr)
                if os.environ.get("GANZOO_DEBUG"):
                    traceback.print_exc()
        for name, found in self._settle_contests(gathered).items():
            self._commit(name, found)
        disabled = sorted(info.name for info in self.plugins if info.status == "disabled")
        if disabled:
            for registry in self.registries():
                registry.note = f" (plugins disabled by {DISABLE_ENV}: {', '.join(disabled)})"
                registry.disabled_plugins = set(disabled)
        unknown = sorted(blocked - {info.name for info in self.plugins})
        if unknown:
            print(f"ganzoo: {DISABLE_ENV} names no installed plugin: {', '.join(unknown)} "
                  f"(installed: {', '.join(info.name for info in self.plugins) or 'none'})", file=sys.stderr)

    def add_plugin(self, plugin: object, name: str) -> None:
        """Register a plugin object (module or instance) and everything it registers.

        Raises :class:`PluginError` and leaves everything as it was when the plugin
        breaks a rule: an unknown hook, a wrong signature, a duplicate name.
        """
        found = self._admit(plugin, name)
        try:
            clashes = [f"{kind} {key!r} (already {self._targets()[kind].owner(key) or 'taken'}'s)"
                       for kind, entries in found.items() for key, _ in entries if key in self._targets()[kind]]
            if clashes:
                raise PluginError(f"plugin {name!r} registers names already taken: {', '.join(clashes)}")
        except Exception:
            self.pm.unregister(name=name)
            raise
        self._commit(name, found)

    def _admit(self, plugin: object, name: str) -> dict[str, list[tuple[str, Any]]]:
        """Register ``plugin`` with pluggy and gather what its hooks register, checked
        against the plugin's own rules; nothing is committed yet. A plugin that breaks
        one is unregistered again and PluginError raised."""
        try:
            self.pm.register(plugin, name=name)
        except ValueError as exc:  # pluggy: the same name or object registered twice
            raise PluginError(f"plugin {name!r}: {exc}") from None
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r}: {exc}") from None
        try:
            self._check_hook_names(name)
            return self._collect(name)
        except Exception:
            self.pm.unregister(name=name)
            raise

    def _settle_contests(self, gathered: dict[str, dict[str, list[tuple[str, Any]]]]):
        """A name that two installed plugins register goes to neither, whatever their load
        order, and each such name is reported in one line; a name the core itself holds
        (a built-in recipe) stays the core's. Everything else of both plugins loads."""
        targets = self._targets()
        claims: dict[tuple[str, str], list[str]] = {}
        for plugin, found in gathered.items():
            for kind, entries in found.items():
                for key, _ in entries:
                    claims.setdefault((kind, key), []).append(plugin)
        dropped: set[tuple[str, str]] = set()
        for (kind, key), owners in sorted(claims.items()):
            if kind == "tuning":
                continue  # a tuning goes with its model (below)
            if key in targets[kind]:
                print(f"ganzoo: {kind} {key!r} is ganzoo's own; plugin(s) {', '.join(map(repr, owners))} "
                      "cannot take it", file=sys.stderr)
                dropped.add((kind, key))
            elif len(owners) > 1:
                print(f"ganzoo: {kind} {key!r} is registered by plugins {' and '.join(map(repr, owners))}; neither "
                      f"gets it (disable one with {DISABLE_ENV})", file=sys.stderr)
                targets[kind].contested[key] = owners
                dropped.add((kind, key))
        settled = {}
        for plugin, found in gathered.items():
            settled[plugin] = {
                kind: [(key, entry) for key, entry in entries
                       if (kind, key) not in dropped and not (kind == "tuning" and ("model", entry.model) in dropped)]
                for kind, entries in found.items()
            }
        return settled

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
    def _collect(self, name: str) -> dict[str, list[tuple[str, Any]]]:
        """Call the plugin's hooks; return what it registers, by kind, once all of it is valid."""
        from .evaluate.metric_api import Metric

        found: dict[str, list[tuple[str, Any]]] = {kind: [] for kind in ("model", "loss", "recipe", "tuning",
                                                                          "dataset", "metric", "logger")}

        def register_model(spec: ModelSpec) -> None:
            if not isinstance(spec, ModelSpec):
                raise PluginError(f"plugin {name!r} registered {spec!r}, not a ganzoo.ModelSpec")
            found["model"].append((spec.name, spec))
            for recipe, settings in spec.tunings.items():
                if not isinstance(settings, dict):
                    raise PluginError(f"plugin {name!r}: the tuning of {spec.name} for {recipe!r} is not a mapping")
                source = RecipeSource(recipe, f"{spec.name}'s tuning", name, spec.name, dict(settings))
                found["tuning"].append((tuning_key(spec.name, recipe), source))

        def register_loss(loss_name: str, factory: Callable[..., Any]) -> None:
            if not callable(factory):
                raise PluginError(f"plugin {name!r}: loss {loss_name!r} is not callable")
            found["loss"].append((loss_name, factory))

        def register_recipe(recipe_name: str, path: str | os.PathLike, model: str | None = None) -> None:
            if not Path(path).is_file():
                raise PluginError(f"plugin {name!r}: recipe {recipe_name!r} file {path} is missing")
            source = RecipeSource(recipe_name, str(path), name, model)
            if model is None:
                found["recipe"].append((recipe_name, source))
            else:
                found["tuning"].append((tuning_key(model, recipe_name), source))

        def register_dataset(dataset_name: str, load: Callable[..., Any], description: str = "") -> None:
            if not callable(load):
                raise PluginError(f"plugin {name!r}: dataset {dataset_name!r} has no callable loader")
            found["dataset"].append((dataset_name, DatasetSpec(dataset_name, load, description)))

        def register_metric(metric: Metric) -> None:
            if not isinstance(metric, Metric):
                raise PluginError(f"plugin {name!r} registered {metric!r}, not a ganzoo.Metric")
            found["metric"].append((metric.name, metric))

        def register_logger(logger_name: str, factory: Callable[..., Any], description: str = "") -> None:
            if not callable(factory):
                raise PluginError(f"plugin {name!r}: logger {logger_name!r} is not callable")
            found["logger"].append((logger_name, LoggerSpec(logger_name, factory, description)))

        for hook, register in (("register_models", register_model), ("register_losses", register_loss),
                               ("register_recipes", register_recipe), ("register_datasets", register_dataset),
                               ("register_metrics", register_metric), ("register_loggers", register_logger)):
            self._call(name, hook, register)

        own_models = {model for model, _ in found["model"]}
        for _, source in found["tuning"]:
            if source.model not in own_models:
                where = f"plugin {self.models.owner(source.model)!r}'s" if source.model in self.models else "no plugin's"
                raise PluginError(f"plugin {name!r} ships a tuning of {source.model!r} for recipe {source.name!r}, "
                                  f"but {source.model!r} is {where} model, not one it registers")
        twice = [f"{kind} {key!r} (twice)" for kind, entries in found.items()
                 for key in sorted({k for k, _ in entries}) if [k for k, _ in entries].count(key) > 1]
        if twice:
            raise PluginError(f"plugin {name!r} registers names already taken: {', '.join(twice)}")
        return found

    def _targets(self) -> dict[str, Registry[Any]]:
        return {"model": self.models, "loss": self.losses, "recipe": self.recipes, "tuning": self.tunings,
                "dataset": self.datasets, "metric": self.metrics, "logger": self.loggers}

    def _commit(self, name: str, found: dict[str, list[tuple[str, Any]]]) -> None:
        targets = self._targets()
        for kind, entries in found.items():
            for key, entry in entries:
                targets[kind].register(key, entry, owner=name)

    def tuning(self, model: str, recipe: str) -> RecipeSource | None:
        """``model``'s tuning of ``recipe`` (a file or a mapping its plugin ships), if any."""
        key = tuning_key(model, recipe)
        return self.tunings.get(key) if key in self.tunings else None

    def tuned_recipes(self, model: str) -> list[str]:
        return sorted(self.tunings.get(key).name for key in self.tunings if self.tunings.get(key).model == model)

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
        with _signals_deferred():
            host.load_entry_points()
        _host = host
    return _host


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the plugins (and torch with them) import: a signal
    that lands inside torch's import can leave it half-made (seen: a RecursionError on the
    next import, the signal lost). A held signal arrives the moment the imports are done."""
    held = (signal.SIGINT, signal.SIGTERM)
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
