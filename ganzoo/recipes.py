"""Recipes: YAML files of training settings, found by name or path, merged and validated.

Resolution order, later wins::

    core defaults < the model's defaults (ModelSpec.defaults, ModelSpec.train_defaults)
      < recipe < the model plugin's tuning for that recipe (a file it ships)
      < the recipe's ``models: {MODEL: ...}`` section < --set key=value

Every key is known in advance (the core's training settings plus the model's own
settings), typed and range-checked; an unknown key is an error that names close matches.
YAML is only ever read with ``yaml.safe_load``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import UsageError, did_you_mean
from .registry import ModelSpec, RecipeSource

RECIPE_ONLY_KEYS = ("description", "models")


@dataclass(frozen=True)
class Setting:
    """One training setting: its type, default, help and range check."""

    kind: str  # int | float | str | betas
    default: Any
    help: str
    optional: bool = False  # None allowed
    check: Callable[[Any], bool] = lambda v: True
    rule: str = ""


def _positive(v: Any) -> bool:
    return v > 0


SWITCH_VALUES = ("auto", "on", "off")


TRAIN_SETTINGS: dict[str, Setting] = {
    "dataset": Setting("str", None, "dataset name (mnist, fashion-mnist, cifar10, imagefolder)"),
    "image_size": Setting("int", 28, "side of the square images, in pixels", check=_positive, rule="> 0"),
    "channels": Setting("int", 1, "image channels (1 grey, 3 colour)", check=lambda v: v in (1, 3), rule="1 or 3"),
    "epochs": Setting("int", 1, "passes over the training set", check=lambda v: v >= 0, rule=">= 0"),
    "max_steps": Setting("int", None, "optional cap on training steps", optional=True, check=_positive, rule="> 0"),
    "batch_size": Setting("int", 64, "images per step", check=_positive, rule="> 0"),
    "n_critic": Setting(
        "int", 1, "discriminator (critic) updates per generator update, each on a new batch", check=_positive, rule="> 0"
    ),
    "lr": Setting("float", 2e-4, "Adam learning rate of G and D", check=_positive, rule="> 0"),
    "betas": Setting(
        "betas", [0.5, 0.999], "Adam betas", check=lambda v: all(0 <= b < 1 for b in v), rule="each in [0, 1)"
    ),
    "seed": Setting("int", 0, "random seed of the run", check=lambda v: v >= 0, rule=">= 0"),
    "loss": Setting("str", None, "loss name (default: the model's)", optional=True),
    "log_every": Setting("int", 100, "steps between metrics lines", check=_positive, rule="> 0"),
    "sample_every": Setting("int", 400, "steps between sample grids", check=_positive, rule="> 0"),
    "checkpoint_every": Setting("int", 2000, "steps between checkpoints", check=_positive, rule="> 0"),
    "eval_every": Setting(
        "int", None, "steps between classifier metrics during training (keeps checkpoints/best.pt)",
        optional=True, check=_positive, rule="> 0",
    ),
    "eval_samples": Setting("int", 100, "generated images per class for eval_every", check=lambda v: v >= 2, rule=">= 2"),
    "keep_checkpoints": Setting(
        "int", 3, "how many step checkpoints to keep (besides last.pt)", check=_positive, rule="> 0"
    ),
    "logger": Setting(
        "str", "none", "extra logger: none or tensorboard (needs pip install 'ganzoo[tensorboard]')",
        check=lambda v: v in ("none", "tensorboard"), rule="none or tensorboard",
    ),
    "precision": Setting(
        "str", "auto", "auto (bf16 where the hardware has it), fp32 or bf16 autocast",
        check=lambda v: v in ("auto", "fp32", "bf16"), rule="auto, fp32 or bf16",
    ),
    "channels_last": Setting(
        "switch", "auto", "channels-last memory format (auto: with bf16 or CUDA)",
        check=lambda v: v in SWITCH_VALUES, rule="auto, on or off",
    ),
    "fused_upsample": Setting(
        "switch", "auto", "run upsample+3x3 conv layers on the input grid with the kernel folded (auto: fp32, and bf16 channels-last on the CPU)",
        check=lambda v: v in SWITCH_VALUES, rule="auto, on or off",
    ),
    "sync_batchnorm": Setting(
        "bool", False, "under torchrun, BatchNorm statistics over the global batch (SyncBatchNorm, CUDA only)"
    ),
    "cuda_graph": Setting(
        "switch", "auto", "capture the whole D+G step in one CUDA graph (auto: on CUDA)",
        check=lambda v: v in SWITCH_VALUES, rule="auto, on or off",
    ),
}

# Settings that may change when a run is resumed: budgets, intervals, speed switches.
RESUMABLE_SETTINGS = (
    "epochs", "max_steps", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "eval_every", "eval_samples",
    "precision", "channels_last", "fused_upsample", "cuda_graph", "logger",
)


@dataclass(frozen=True)
class ResolvedRecipe:
    """The settings a run trains with, after merging and validation."""

    model: str
    recipe: str
    settings: dict[str, Any]
    model_keys: tuple[str, ...] = field(default=())

    def model_settings(self) -> dict[str, Any]:
        return {k: self.settings[k] for k in self.model_keys}

    def train_settings(self) -> dict[str, Any]:
        return {k: self.settings[k] for k in TRAIN_SETTINGS}


# -- finding and reading --------------------------------------------------------------
def looks_like_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name


def read_yaml(path: str | Path) -> Any:
    """Safe-load a YAML file; a syntax error names the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"recipe file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read recipe file {path}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "malformed YAML"
        raise UsageError(f"{where}: malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: malformed YAML: {exc}") from None


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
    models = data.get("models", {}) or {}
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        raise UsageError(f"{path}: 'models' must map model names to mappings of settings")
    return name, data


# -- typing and checking --------------------------------------------------------------
def _coerce(key: str, value: Any, kind: str) -> Any:
    """Turn ``value`` into the setting's kind, or raise UsageError saying what was expected."""
    def wrong() -> UsageError:
        return UsageError(f"setting {key!r} must be {_kind_name(kind)}, got {value!r}")

    if kind == "int":
        if isinstance(value, bool):
            raise wrong()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise wrong() from None
        raise wrong()
    if kind == "float":
        if isinstance(value, bool):
            raise wrong()
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise wrong() from None
        else:
            raise wrong()
        if not math.isfinite(number):
            raise wrong()
        return number
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise wrong()
    if kind == "str":
        if isinstance(value, str) and value:
            return value
        raise wrong()
    if kind == "switch":  # YAML reads on/off/yes/no as booleans
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str) and value.strip().lower() in SWITCH_VALUES:
            return value.strip().lower()
        raise wrong()
    if kind == "betas":
        if isinstance(value, str):
            value = [part for part in value.replace("[", "").replace("]", "").split(",") if part.strip()]
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return [_coerce(key, v, "float") for v in value]
        raise wrong()
    raise AssertionError(f"unknown setting kind {kind}")


def _kind_name(kind: str) -> str:
    return {
        "int": "a whole number",
        "float": "a number",
        "bool": "true or false",
        "str": "a non-empty string",
        "switch": "auto, on or off",
        "betas": "two numbers, e.g. [0.5, 0.999]",
    }[kind]


def _kind_of_default(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    raise TypeError(f"model settings must default to int, float, bool or str, not {value!r}")


def schema_for(spec: ModelSpec) -> dict[str, Setting]:
    """The training settings plus the model's own settings, typed from its defaults."""
    schema = dict(TRAIN_SETTINGS)
    for key, default in spec.defaults.items():
        if key in schema:
            raise TypeError(f"model {spec.name!r} redefines the training setting {key!r}")
        schema[key] = Setting(_kind_of_default(default), default, f"{spec.name} setting")
    for key in spec.train_defaults:
        if key not in TRAIN_SETTINGS:
            raise TypeError(f"model {spec.name!r} gives a default for {key!r}, which is not a training setting")
    return schema


def load_tuning(source: RecipeSource | None) -> dict[str, Any]:
    """A model's tuning file for a recipe: a mapping of settings (``description`` ignored)."""
    if source is None:
        return {}
    data = read_yaml(source.path) or {}
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


def _apply(settings: dict[str, Any], layer: Mapping[str, Any], schema: Mapping[str, Setting], source: str) -> None:
    for key, value in layer.items():
        if key not in schema:
            raise UsageError(f"unknown setting {key!r} in {source}{did_you_mean(key, schema)}")
        setting = schema[key]
        if value is None and setting.optional:
            settings[key] = None
            continue
        value = _coerce(key, value, setting.kind)
        if not setting.check(value):
            raise UsageError(f"setting {key!r} must be {setting.rule}, got {value!r} (in {source})")
        settings[key] = value


def resolve(
    spec: ModelSpec,
    recipe_name: str,
    recipe: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    tuning: Mapping[str, Any] | None = None,
) -> ResolvedRecipe:
    """Merge the layers for ``spec`` and validate every value."""
    schema = schema_for(spec)
    settings = {key: setting.default for key, setting in schema.items()}
    settings["loss"] = spec.loss
    _apply(settings, spec.train_defaults, schema, f"model {spec.name!r} defaults")
    top = {k: v for k, v in recipe.items() if k not in RECIPE_ONLY_KEYS}
    _apply(settings, top, schema, f"recipe {recipe_name!r}")
    _apply(settings, dict(tuning or {}), schema, f"{spec.name}'s tuning of recipe {recipe_name!r}")
    section = (recipe.get("models") or {}).get(spec.name, {})
    _apply(settings, section, schema, f"recipe {recipe_name!r} section models.{spec.name}")
    _apply(settings, dict(overrides or {}), schema, "--set")
    if settings["loss"] is None:
        settings["loss"] = spec.loss
    if not settings["dataset"]:
        raise UsageError(f"recipe {recipe_name!r} names no dataset")
    return ResolvedRecipe(spec.name, recipe_name, settings, tuple(spec.defaults))


def describe(source: RecipeSource) -> str:
    """The recipe's ``description`` line, or '' when it has none or cannot be read."""
    try:
        data = read_yaml(source.path)
    except UsageError:
        return "(unreadable)"
    return str(data.get("description", "")) if isinstance(data, dict) else ""
