"""Recipes: YAML files of training settings, found by name or path, merged and validated.

Resolution order, later wins::

    core defaults < the model's settings (build()'s defaults) and train_defaults
      < recipe < the model's tuning of that recipe (from its plugin)
      < the model's preset named by ``preset`` (wherever that is set)
      < the recipe's ``models: {MODEL: ...}`` section < --set key=value

The schema is the core's training settings, the model's own settings and the options of
the chosen loss; every key is typed and range-checked, an unknown key is an error that
names close matches. YAML is only ever read with ``yaml.SafeLoader`` (``ganzoo.yamlfile``: a
key given twice is an error).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from . import yamlfile
from .errors import UsageError, did_you_mean, first_line
from .files import TooLargeToRead
from .models import ModelSpec, model_settings
from .registry import RecipeSource
from .settings import TRAIN_SETTINGS, Setting, apply_layer, flatten, kind_of_default
from .zoo import loss_factory, loss_options

RECIPE_ONLY_KEYS = ("description", "models")


# -- finding and reading --------------------------------------------------------------
def looks_like_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name


def recorded_name(name_or_path: str) -> str:
    """The recipe name a run records: a registered name as given, a YAML file by its stem
    (``ganzoo train ... --recipe my/photos.yaml`` makes runs of recipe ``photos``)."""
    return Path(name_or_path).stem if looks_like_path(name_or_path) else name_or_path


def read_yaml(path: str | Path) -> Any:
    """Safe-load a YAML file; a syntax error names the file and the line."""
    path = Path(path)
    try:
        text = yamlfile.read_bounded(path)
    except FileNotFoundError:
        raise UsageError(f"recipe file {path} does not exist") from None
    except TooLargeToRead as exc:
        raise UsageError(str(exc)) from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise UsageError(f"cannot read recipe file {path}: {first_line(exc)}") from None
    try:
        return yamlfile.load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "malformed YAML"
        raise UsageError(f"{where}: malformed YAML: {problem}") from None
    except yamlfile.TooLarge as exc:
        raise UsageError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: malformed YAML: {first_line(exc)}") from None


def _check_names(data: Mapping[Any, Any], path: Path) -> None:
    """Every key of a recipe, at any depth, is a setting's or a model's name: text."""
    for key, value in data.items():
        if not isinstance(key, str):
            shown = repr(key) if len(repr(key)) <= 40 else repr(key)[:40] + "..."
            raise UsageError(f"{path}: the name {shown} ({type(key).__name__}) is not text; "
                             "a recipe's keys name settings (quote it if it is one)")
        if isinstance(value, Mapping):
            _check_names(value, path)


def load_recipe(name_or_path: str, recipes: Mapping[str, RecipeSource] | Any) -> tuple[str, dict[str, Any]]:
    """Return ``(recipe name, raw mapping)`` for a registered name or a YAML file path."""
    if looks_like_path(name_or_path) or (name_or_path not in recipes and Path(name_or_path).is_file()):
        path = Path(name_or_path)
        name = path.stem
    else:
        path = Path(recipes.get(name_or_path).path)
        name = name_or_path
    data = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a recipe must be a mapping of settings, not {type(data).__name__}")
    _check_names(data, path)
    models = data.get("models", {}) or {}
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        raise UsageError(f"{path}: 'models' must map model names to mappings of settings")
    return name, data


def load_tuning(source: RecipeSource | None) -> dict[str, Any]:
    """A model's tuning of a recipe: a mapping of settings (``description`` ignored)."""
    if source is None:
        return {}
    data = dict(source.settings) if source.settings is not None else (read_yaml(source.path) or {})
    if not isinstance(data, dict) or "models" in data:
        raise UsageError(f"{source.path}: a recipe tuning must be a plain mapping of settings")
    return {k: v for k, v in data.items() if k != "description"}


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``['lr=1e-4', 'max_steps=10']`` -> ``{'lr': '1e-4' as typed by YAML, ...}``."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set takes key=value, got {pair!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        overrides[key] = value
    return overrides


# -- the schema -----------------------------------------------------------------------
def schema_for(spec: ModelSpec, loss_factory: Any = None) -> dict[str, Setting]:
    """The training settings, the model's own settings and the loss's options, typed
    from their defaults."""
    schema = dict(TRAIN_SETTINGS)
    for key, default in model_settings(spec).items():
        if key in TRAIN_SETTINGS:
            raise TypeError(f"model {spec.name!r} redefines the training setting {key!r}")
        schema[key] = Setting(kind_of_default(default), default, f"{spec.name} setting")
    for key in spec.train_defaults:
        if key not in TRAIN_SETTINGS:
            raise TypeError(f"model {spec.name!r} gives a default for {key!r}, which is not a training setting")
    if loss_factory is not None:
        for key, default in loss_options(loss_factory).items():
            if key in TRAIN_SETTINGS:
                raise TypeError(f"the loss option {key!r} has the name of a training setting")
            schema.setdefault(key, Setting(kind_of_default(default), default, "loss option"))
    return schema


def _chosen_preset(spec: ModelSpec, layers: list[tuple[str, Mapping[str, Any]]]) -> tuple[str, dict[str, Any]] | None:
    """The preset some layer names (the last one wins) and its settings, or None."""
    name = None
    for _, layer in layers:
        if "preset" in layer:
            name = layer["preset"]
    if name is None:
        return None
    if not isinstance(name, str) or name not in spec.presets:
        raise UsageError(f"model {spec.name!r} has no preset {name!r}{did_you_mean(str(name), spec.presets)}")
    return name, dict(spec.presets[name])


def _chosen_loss(spec: ModelSpec, layers: list[Mapping[str, Any]]) -> str:
    loss = spec.loss
    for layer in layers:
        if layer.get("loss") is not None:
            loss = layer["loss"]
    if not isinstance(loss, str) or not loss:
        raise UsageError(f"setting 'loss' must be a loss name, got {loss!r}")
    return loss


def resolve(
    spec: ModelSpec,
    recipe_name: str,
    recipe: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    tuning: Mapping[str, Any] | None = None,
    *,
    apply_preset: bool = True,
) -> dict[str, Any]:
    """Merge the layers for ``spec`` and validate every value; return the settings. A
    resumed run passes its saved settings as the recipe with ``apply_preset=False``: they
    already hold what its preset gave, and anything set over it."""
    top = {k: v for k, v in recipe.items() if k not in RECIPE_ONLY_KEYS}
    section = (recipe.get("models") or {}).get(spec.name, {})
    layers = [
        (f"model {spec.name!r} defaults", dict(spec.train_defaults)),
        (f"recipe {recipe_name!r}", top),
        (f"{spec.name}'s tuning of recipe {recipe_name!r}", dict(tuning or {})),
        (f"recipe {recipe_name!r} section models.{spec.name}", section),
        ("--set", dict(overrides or {})),
    ]
    layers = [(source, flatten(layer, source)) for source, layer in layers]
    preset = _chosen_preset(spec, layers) if apply_preset else None
    if preset is not None:
        source = f"{spec.name}'s preset {preset[0]!r}"
        layers.insert(3, (source, flatten(preset[1], source)))
    loss = _chosen_loss(spec, [layer for _, layer in layers])
    schema = schema_for(spec, loss_factory(loss))
    settings = {key: setting.default for key, setting in schema.items()}
    for source, layer in layers:
        apply_layer(settings, layer, schema, source)
    settings["loss"] = loss
    if not settings["dataset"]:
        raise UsageError(f"recipe {recipe_name!r} names no dataset")
    return settings


def describe(source: RecipeSource) -> str:
    """The recipe's ``description`` line, or '' when it has none or cannot be read."""
    try:
        data = read_yaml(source.path)
    except UsageError:
        return "(unreadable)"
    return str(data.get("description", "")) if isinstance(data, dict) else ""
