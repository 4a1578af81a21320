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
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Callable

import pluggy

from . import hookspecs
from .blame import culprit, debug_hint, source_of
from .deferred import signals_deferred
from .errors import PluginError, did_you_mean
from .evaluate.metric_api import Metric
from .models import ModelSpec
from .registry import CallbackSpec, DatasetSpec, LoggerSpec, RecipeSource, Registry

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
    status: str = "ok"  # ok | contested (loaded, but a name it registers another plugin registers too) | failed | disabled
    reason: str = ""
    registers: dict[str, list[str]] = field(default_factory=dict)  # kind -> the names it registered
    contested: list[str] = field(default_factory=list)  # "kind 'name'" it registers and another plugin too


def _disabled_names() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _describe(exc: BaseException) -> str:
    """``Type: first line``; ganzoo's own PluginError is its line alone."""
    text = str(exc).strip().splitlines()
    if isinstance(exc, PluginError) and text:
        return text[0]
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
        self.callbacks: Registry[CallbackSpec] = Registry("callback")
        self._register_builtin_recipes()

    def registries(self) -> list[Registry[Any]]:
        return [self.models, self.losses, self.recipes, self.tunings, self.datasets, self.metrics, self.loggers,
                self.callbacks]

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
                print(f"ganzoo: plugin {ep.name!r} skipped: {info.reason}{debug_hint()}", file=sys.stderr)
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
                self._contest(kind, key, {owner: dict(gathered[owner][kind])[key] for owner in owners})
                dropped.add((kind, key))
        settled = {}
        for plugin, found in gathered.items():
            settled[plugin] = {
                kind: [(key, entry) for key, entry in entries
                       if (kind, key) not in dropped and not (kind == "tuning" and ("model", entry.model) in dropped)]
                for kind, entries in found.items()
            }
        return settled

    def _contest(self, kind: str, key: str, entries: dict[str, Any]) -> None:
        """``key`` registered by several plugins goes to neither: said in one line now, kept
        by plugin (a run one of them made still loads with it), and marked on each plugin."""
        info = {plugin.name: plugin for plugin in self.plugins}
        names = " and ".join(f"{owner!r}" + (f" ({info[owner].distribution} {info[owner].version})"
                                             if owner in info and info[owner].distribution else "")
                             for owner in entries)
        choices = " or ".join(f"{DISABLE_ENV}={','.join(o for o in entries if o != keep)} keeps {keep!r}'s"
                              for keep in entries)
        note = f"is registered by plugins {names}, so by neither; choose one: {choices}"
        print(f"ganzoo: {kind} {key!r} {note}", file=sys.stderr)
        registry = self._targets()[kind]
        registry.contested[key], registry.contest_note[key] = entries, note
        for owner in entries:
            if owner in info:
                info[owner].status = "contested"
                info[owner].contested.append(f"{kind} {key!r}")
                info[owner].reason = f"{', '.join(info[owner].contested)} registered by another plugin too"

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
        registration = Registration(name)
        for hook, register in registration.by_hook().items():
            self._call(name, hook, register)
        found = registration.found
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
                "dataset": self.datasets, "metric": self.metrics, "logger": self.loggers, "callback": self.callbacks}

    def _commit(self, name: str, found: dict[str, list[tuple[str, Any]]]) -> None:
        targets = self._targets()
        info = next((plugin for plugin in self.plugins if plugin.name == name), None)
        for kind, entries in found.items():
            for key, entry in entries:
                targets[kind].register(key, entry, owner=name)
            if info is not None and entries:
                info.registers[kind] = [key if kind != "tuning" else entry.name + " (" + entry.model + ")"
                                        for key, entry in entries]

    def tuning(self, model: str, recipe: str) -> RecipeSource | None:
        """``model``'s tuning of ``recipe`` (a file or a mapping its plugin ships), if any."""
        key = tuning_key(model, recipe)
        return self.tunings.get(key) if key in self.tunings else None

    def tuned_recipes(self, model: str) -> list[str]:
        return sorted(self.tunings.get(key).name for key in self.tunings if self.tunings.get(key).model == model)

    def tuned_models(self, recipe: str) -> list[str]:
        return sorted(self.tunings.get(key).model for key in self.tunings if self.tunings.get(key).name == recipe)

    def _call(self, plugin_name: str, hook_name: str, register: Callable[..., None]) -> None:
        """Call the plugin's implementation of ``hook_name``; what it raises names the hook
        and the place in the plugin's code (PluginError)."""
        caller = getattr(self.pm.hook, hook_name)
        plugin = self.pm.get_plugin(plugin_name)
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin:
                args = {"register": register}
                try:
                    impl.function(*[args[a] for a in impl.argnames])
                except PluginError:
                    raise
                except Exception as exc:
                    root = source_of(plugin)
                    found = culprit(exc, {plugin_name: root}) if root is not None else None
                    where = f" ({found.file}:{found.line})" if found else ""
                    raise PluginError(f"{hook_name} raised {_describe(exc)}{where}") from exc

    def plugin_files(self) -> dict[str, Path]:
        """Each loaded plugin's file or package folder, by name (ganzoo's own left out)."""
        roots = {}
        for name, plugin in self.pm.list_name_plugin():
            root = source_of(plugin)
            if root is not None:
                roots[name] = root
        return roots

    def _register_builtin_recipes(self) -> None:
        folder = resources.files("ganzoo.builtin_recipes")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".yaml"):
                name = entry.name[: -len(".yaml")]
                self.recipes.register(name, RecipeSource(name, str(entry), BUILTIN_OWNER), BUILTIN_OWNER)


class Registration:
    """The ``register`` callbacks a plugin's hooks get, one method per hook (its
    signature is what the hook's ``register`` takes: docs/writing-a-plugin.md's reference
    is made from these); what the plugin registers is gathered, checked, in ``found``."""

    KINDS = ("model", "loss", "recipe", "tuning", "dataset", "metric", "logger", "callback")

    def __init__(self, plugin: str):
        self.plugin = plugin
        self.found: dict[str, list[tuple[str, Any]]] = {kind: [] for kind in self.KINDS}

    def by_hook(self) -> dict[str, Callable[..., None]]:
        return {"register_models": self.model, "register_losses": self.loss, "register_recipes": self.recipe,
                "register_datasets": self.dataset, "register_metrics": self.metric, "register_loggers": self.logger,
                "register_callbacks": self.callback}

    def _refuse(self, what: str) -> PluginError:
        return PluginError(f"plugin {self.plugin!r}{what}")

    def model(self, spec: ModelSpec) -> None:
        """A model, with the recipe tunings its spec ships."""
        if not isinstance(spec, ModelSpec):
            raise self._refuse(f" registered {spec!r}, not a ganzoo.ModelSpec")
        self.found["model"].append((spec.name, spec))
        for recipe, settings in spec.tunings.items():
            if not isinstance(settings, dict):
                raise self._refuse(f": the tuning of {spec.name} for {recipe!r} is not a mapping")
            source = RecipeSource(recipe, f"{spec.name}'s tuning", self.plugin, spec.name, dict(settings))
            self.found["tuning"].append((tuning_key(spec.name, recipe), source))

    def loss(self, name: str, factory: Callable[..., Any]) -> None:
        """A loss: ``factory(**options)`` makes it; its keyword parameters are its options."""
        if not callable(factory):
            raise self._refuse(f": loss {name!r} is not callable")
        self.found["loss"].append((name, factory))

    def recipe(self, name: str, path: str | os.PathLike, model: str | None = None) -> None:
        """A recipe file; with ``model``, that model's tuning of the recipe ``name``."""
        if not Path(path).is_file():
            raise self._refuse(f": recipe {name!r} file {path} is missing")
        source = RecipeSource(name, str(path), self.plugin, model)
        if model is None:
            self.found["recipe"].append((name, source))
        else:
            self.found["tuning"].append((tuning_key(model, name), source))

    def dataset(self, name: str, load: Callable[..., Any], description: str = "") -> None:
        """A dataset: ``load(root, *, train, channels, image_size)``."""
        if not callable(load):
            raise self._refuse(f": dataset {name!r} has no callable loader")
        self.found["dataset"].append((name, DatasetSpec(name, load, description)))

    def metric(self, metric: Metric) -> None:
        """An evaluation metric."""
        if not isinstance(metric, Metric):
            raise self._refuse(f" registered {metric!r}, not a ganzoo.Metric")
        self.found["metric"].append((metric.name, metric))

    def logger(self, name: str, factory: Callable[..., Any], description: str = "") -> None:
        """A training logger: ``factory(run_dir, settings)`` makes a ``ganzoo.Logger``."""
        if not callable(factory):
            raise self._refuse(f": logger {name!r} is not callable")
        self.found["logger"].append((name, LoggerSpec(name, factory, description)))

    def callback(self, name: str, factory: Callable[..., Any], description: str = "") -> None:
        """A training callback: ``factory(settings)`` makes a ``ganzoo.Callback``."""
        if not callable(factory):
            raise self._refuse(f": callback {name!r} is not callable")
        self.found["callback"].append((name, CallbackSpec(name, factory, description)))


def tuning_key(model: str, recipe: str) -> str:
    return f"{model}:{recipe}"


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded from entry points on first use."""
    global _host
    if _host is None:
        host = PluginHost()
        with signals_deferred():
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
