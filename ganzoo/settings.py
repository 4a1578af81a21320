"""The settings of a training run: every key known in advance, typed and range-checked.

:data:`TRAIN_SETTINGS` are the core's (what every model gets), each in a group (``data``,
``budget``, ``optimiser``, ``regularisation``, ``intervals``, ``speed``, ``run``); a model
adds its own (its ``build`` function's keyword-only parameters) and the chosen loss adds
its options. A setting is named flat (``precision``) or with its group
(``speed.precision``; in YAML, ``speed: {precision: bf16}``), and says itself whether a
resumed run may change it. A run reads its resolved settings as one :class:`RunSettings`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .augment import valid_policy
from .errors import UsageError, did_you_mean
from .seeds import MAX_SEED


@dataclass(frozen=True)
class Setting:
    """One training setting: its type, default, help and range check."""

    kind: str  # int | float | str | bool | switch | betas
    default: Any
    help: str
    optional: bool = False  # None allowed
    check: Callable[[Any], bool] = lambda v: True
    rule: str = ""
    group: str = ""  # one of GROUPS for the core's settings; a model's and a loss's own have none
    resumable: bool = False  # whether --resume may change it (budgets, intervals, speed, logging)


def _positive(v: Any) -> bool:
    return v > 0


def _betas(v: Any) -> bool:
    return all(0 <= b < 1 for b in v)


SWITCH_VALUES = ("auto", "on", "off")
LR_SCHEDULES = ("constant", "linear")


def _switch_setting(help: str) -> Setting:
    """A speed switch: ``auto`` (the default: ganzoo decides for the hardware), ``on`` or
    ``off``; it changes how fast a run goes, so a resumed run may change it."""
    return Setting("switch", "auto", help, check=lambda v: v in SWITCH_VALUES, rule="auto, on or off",
                   resumable=True)


def _in_group(group: str, settings: dict[str, Setting]) -> dict[str, Setting]:
    return {key: replace(setting, group=group) for key, setting in settings.items()}


# Every core setting, by group. resumable=True: a resumed run may change it (--set with --resume).
TRAIN_SETTINGS: dict[str, Setting] = {
    **_in_group("data", {
        "dataset": Setting("str", None, "dataset name (see 'ganzoo datasets')"),
        "image_size": Setting("int", 28, "side of the square images, in pixels", check=_positive, rule="> 0"),
        "channels": Setting("int", 1, "image channels (1 grey, 3 colour)", check=lambda v: v in (1, 3),
                            rule="1 or 3"),
    }),
    **_in_group("budget", {
        "epochs": Setting("int", 1, "passes over the training set", check=lambda v: v >= 0, rule=">= 0",
                          resumable=True),
        "max_steps": Setting("int", None, "optional cap on training steps", optional=True, check=_positive,
                             rule="> 0", resumable=True),
        "batch_size": Setting("int", 64, "images per step", check=_positive, rule="> 0"),
        "n_critic": Setting("int", 1, "discriminator (critic) updates per generator update, each on a new batch",
                            check=_positive, rule="> 0"),
    }),
    **_in_group("optimiser", {
        "lr": Setting("float", 2e-4, "learning rate of G and D", check=_positive, rule="> 0"),
        "betas": Setting("betas", [0.5, 0.999], "Adam betas of G and D", check=_betas, rule="each in [0, 1)"),
        "lr_g": Setting("float", None, "G's learning rate (default: lr)", optional=True, check=_positive, rule="> 0"),
        "lr_d": Setting("float", None, "D's learning rate (default: lr)", optional=True, check=_positive, rule="> 0"),
        "betas_g": Setting("betas", None, "G's Adam betas (default: betas)", optional=True, check=_betas,
                           rule="each in [0, 1)"),
        "betas_d": Setting("betas", None, "D's Adam betas (default: betas)", optional=True, check=_betas,
                           rule="each in [0, 1)"),
        "lr_schedule": Setting("str", "constant", "constant, or linear: every learning rate decays linearly to 0 "
                               "over the budget", check=lambda v: v in LR_SCHEDULES, rule="constant or linear"),
    }),
    **_in_group("regularisation", {
        "ema": Setting("float", 0.0, "decay of an exponential moving average of G's weights (0: off; e.g. 0.999); "
                       "sampling, evaluation and export use it", check=lambda v: 0 <= v < 1, rule="in [0, 1)"),
        "augment": Setting("str", "none", "DiffAugment policies applied to everything D sees: none or a "
                           "comma-separated list of color, translation, cutout", check=valid_policy,
                           rule="none or a list of color, translation, cutout"),
        "r1_gamma": Setting("float", 0.0, "R1 penalty weight gamma (the D loss adds gamma/2 E||grad D(x_real)||^2; "
                            "0: off)", check=lambda v: v >= 0, rule=">= 0"),
        "gp_weight": Setting("float", 0.0, "WGAN-GP gradient penalty weight on real/fake interpolates (0: off)",
                             check=lambda v: v >= 0, rule=">= 0"),
    }),
    **_in_group("run", {
        "preset": Setting("str", None, "a named configuration of the model (see 'ganzoo models --json')",
                          optional=True),
        "seed": Setting("int", 0, "random seed of the run", check=lambda v: 0 <= v <= MAX_SEED,
                        rule=f"from 0 to {MAX_SEED} (2**62 - 1)"),
        "loss": Setting("str", None, "loss name (default: the model's; see 'ganzoo models --json')", optional=True),
        "logger": Setting("str", "none", "extra loggers: none, or registered loggers such as tensorboard or wandb "
                          "(tensorboard,wandb: both)", resumable=True),
        "callbacks": Setting("str", "none", "callbacks plugins register (see 'ganzoo plugins'): none, or their "
                             "names, comma-separated", resumable=True),
    }),
    **_in_group("intervals", {
        "log_every": Setting("int", 100, "steps between metrics lines", check=_positive, rule="> 0", resumable=True),
        "sample_every": Setting("int", 400, "steps between sample grids", check=_positive, rule="> 0",
                                resumable=True),
        "checkpoint_every": Setting("int", 2000, "steps between checkpoints", check=_positive, rule="> 0",
                                    resumable=True),
        "keep_checkpoints": Setting("int", 3, "how many step checkpoints to keep (besides last.pt)",
                                    check=_positive, rule="> 0", resumable=True),
        "eval_every": Setting("int", None, "steps between classifier metrics during training (keeps "
                              "checkpoints/best.pt)", optional=True, check=_positive, rule="> 0", resumable=True),
        "eval_samples": Setting("int", 100, "generated images per class for eval_every", check=lambda v: v >= 2,
                                rule=">= 2", resumable=True),
    }),
    **_in_group("speed", {
        "precision": Setting("str", "auto", "auto (bf16 where the hardware has it), fp32 or bf16 autocast",
                             check=lambda v: v in ("auto", "fp32", "bf16"), rule="auto, fp32 or bf16",
                             resumable=True),
        "channels_last": _switch_setting("channels-last memory format (auto: on the CPU and CUDA)"),
        "fused_upsample": _switch_setting("run upsample+3x3 conv layers on the input grid with the kernel folded "
                                          "(auto: fp32, and bf16 with channels-last)"),
        "winograd_upsample": _switch_setting(
            "compute the fused upsampling convolutions with channels-last weights by Winograd's 9 products per "
            "input pixel instead of the phase form's 16 (auto: fp32 on the CPU)"),
        "narrow_conv": _switch_setting(
            "run convolutions with few output channels (a generator's to-image layer, ganzoo.blocks.NarrowConv2d) "
            "as a 1x1 convolution and shifted sums (auto: fp32 on the CPU)"),
        "keep_freed_memory": _switch_setting(
            "keep freed memory in the process for the next step instead of handing it back to the OS (glibc's "
            "malloc; process-wide) (auto: on the CPU)"),
        "share_cores": _switch_setting(
            "when several ganzoo trainings (and evaluations) run on one machine's CPU, each takes its share of the "
            "cores (threads = cores / jobs, looked at every 2 s) (auto: on the CPU unless OMP_NUM_THREADS is set)"),
        "cuda_graph": _switch_setting("capture the whole step in one CUDA graph (auto: on CUDA)"),
        "sync_batchnorm": Setting("bool", False, "under torchrun, BatchNorm statistics over the global batch "
                                  "(SyncBatchNorm, CUDA only)"),
    }),
}
GROUPS = tuple(dict.fromkeys(setting.group for setting in TRAIN_SETTINGS.values()))


def flatten(layer: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A layer of settings with each core setting under its flat name: ``speed.precision``
    and ``speed: {precision: ...}`` are ``precision``; a group's name with a setting not in
    it is an error naming the group's settings. Other keys are left as they are."""
    flat: dict[str, Any] = {}
    for key, value in layer.items():
        group, dot, name = str(key).partition(".")
        if group in GROUPS and (dot or isinstance(value, Mapping)):
            pairs = [(name, value)] if dot else list(value.items())
            for inner, inner_value in pairs:
                _check_member(group, inner, source)
                flat[inner] = inner_value
        else:
            flat[key] = value
    return flat


def _check_member(group: str, name: Any, source: str) -> None:
    members = [key for key, setting in TRAIN_SETTINGS.items() if setting.group == group]
    if name not in members:
        raise UsageError(f"group {group!r} has no setting {name!r} (in {source}){did_you_mean(str(name), members)}")


def name_list(value: Any, what: str) -> list[str]:
    """The names a setting such as ``logger`` or ``callbacks`` lists: ``a,b`` is both,
    ``none`` none; a name given twice, or ``none`` beside another, is refused."""
    names = [part.strip() for part in str(value).split(",") if part.strip()]
    if len(set(names)) != len(names):
        raise UsageError(f"{what} {value!r} names a {what} twice")
    if "none" in names and len(names) > 1:
        raise UsageError(f"{what} {value!r}: 'none' goes alone")
    return [name for name in names if name != "none"]


class RunSettings(Mapping[str, Any]):
    """A run's resolved settings, the one object the loop, the step and the callbacks read:
    by key (``settings["batch_size"]``) or as attributes (``settings.batch_size``), every
    core setting with its default unless given, the model's and the loss's own besides.
    Read-only: a run's settings are decided before it starts."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = {**{key: setting.default for key, setting in TRAIN_SETTINGS.items()}, **values}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("_values")  # absent while copy or pickle rebuild the object
        if values is None or name.startswith("__"):
            raise AttributeError(name)
        try:
            return values[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}{did_you_mean(name, values)}") from None

    def group(self, name: str) -> dict[str, Any]:
        """The settings of one group, e.g. ``settings.group("speed")``."""
        return {key: self._values[key] for key, setting in TRAIN_SETTINGS.items() if setting.group == name}

    def __repr__(self) -> str:
        return f"RunSettings({self._values!r})"


def resumable_settings() -> tuple[str, ...]:
    """The settings a resumed run may change: budgets, intervals, speed, loggers, callbacks."""
    return tuple(key for key, setting in TRAIN_SETTINGS.items() if setting.resumable)


def coerce(key: str, value: Any, kind: str) -> Any:
    """Turn ``value`` into the setting's kind, or raise UsageError saying what was expected."""
    def wrong() -> UsageError:
        return UsageError(f"setting {key!r} must be {kind_name(kind)}, got {value!r}")

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
            return [coerce(key, v, "float") for v in value]
        raise wrong()
    raise AssertionError(f"unknown setting kind {kind}")


def kind_name(kind: str) -> str:
    return {
        "int": "a whole number",
        "float": "a number",
        "bool": "true or false",
        "str": "a non-empty string",
        "switch": "auto, on or off",
        "betas": "two numbers, e.g. [0.5, 0.999]",
    }[kind]


def kind_of_default(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    raise TypeError(f"settings must default to int, float, bool or str, not {value!r}")


def apply_layer(settings: dict[str, Any], layer: dict[str, Any], schema: dict[str, Setting], source: str) -> None:
    """Type, check and copy ``layer`` into ``settings``; an unknown key names close matches."""
    for key, value in flatten(layer, source).items():
        if key not in schema:
            raise UsageError(f"unknown setting {key!r} in {source}{did_you_mean(key, schema)}")
        setting = schema[key]
        if value is None and setting.optional:
            settings[key] = None
            continue
        value = coerce(key, value, setting.kind)
        if not setting.check(value):
            raise UsageError(f"setting {key!r} must be {setting.rule}, got {value!r} (in {source})")
        settings[key] = value
