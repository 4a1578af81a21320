"""Models: what a plugin registers (:class:`ModelSpec`), and building one from settings.

A model's settings are its ``build`` function's keyword-only parameters with their
defaults (torchvision's ``get_model(name, **config)``): ``build(*, latent_dim=100,
width=64, channels=1, image_size=28, num_classes=10)`` gives the settings ``latent_dim``
and ``width``; ``channels``, ``image_size`` and ``num_classes`` come from the data and are
passed only when the signature names them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError

DATA_ARGUMENTS = ("channels", "image_size", "num_classes")
SETTING_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class ModelSpec:
    """What a plugin registers for one GAN model.

    * ``name``: what users type (``ganzoo train NAME``).
    * ``build(**settings) -> (generator, discriminator)``.
    * ``loss``: the name of the default loss (a recipe or ``--set loss=...`` may pick another).
    * ``defaults``: the model's settings and their defaults, when they are not simply
      ``build``'s keyword-only parameters (leave empty to take them from the signature).
    * ``description``: one line for ``ganzoo models``.
    * ``conditional``: ``True``, ``False`` or a word such as ``"optional"``, for listings;
      what counts at run time is the built generator's ``num_classes``.
    * ``train_defaults``: the model's values for training settings, where they differ
      from the core's (``lr``, ``betas``, ``n_critic``, ``gp_weight``, ...).
    * ``step``: a :class:`ganzoo.TrainStep` subclass, the model's own training step
      (default: the adversarial step, ``ganzoo.AdversarialStep``).
    * ``tunings``: recipe name -> settings applied when the model trains on that recipe.
    * ``optimizer``: ``optimizer(params, *, lr, betas)`` -> a torch optimizer (default: Adam).
    * ``presets``: name -> settings, chosen with ``--set preset=NAME`` (e.g. acgan's
      ``reference``: the seed article's configuration exactly); a preset applies over
      the recipe and the model's tuning of it, under ``--set``.
    """

    name: str
    build: Callable[..., tuple[Any, Any]]
    loss: str
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    conditional: bool | str = True
    train_defaults: dict[str, Any] = field(default_factory=dict)
    step: type | None = None
    tunings: dict[str, dict[str, Any]] = field(default_factory=dict)
    optimizer: Callable[..., Any] | None = None
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class BuiltModel:
    """A model ready to train: its spec, the two networks and the loss object."""

    spec: ModelSpec
    generator: Any
    discriminator: Any
    loss: Any


def keyword_defaults(function: Callable[..., Any], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``function``'s keyword-only parameters whose defaults are settings (bool, int,
    float or str), in signature order."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {
        p.name: p.default
        for p in parameters
        if p.kind is p.KEYWORD_ONLY and p.name not in skip and isinstance(p.default, SETTING_TYPES)
    }


def model_settings(spec: ModelSpec) -> dict[str, Any]:
    """The model's own settings and their defaults: ``build``'s keyword-only parameters
    (or ``spec.defaults`` when given), plus the settings its step declares (a
    ``settings`` mapping on the step class)."""
    own = dict(spec.defaults) if spec.defaults else keyword_defaults(spec.build, skip=DATA_ARGUMENTS)
    return {**own, **dict(getattr(spec.step, "settings", None) or {})}


def accepted(function: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that ``function``'s signature names (all of them if it takes ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return dict(settings)
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return dict(settings)
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in settings.items() if k in names}


def _host():
    from .plugins import get_host

    return get_host()


def get_model_spec(name: str) -> ModelSpec:
    return _host().models.get(name)


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching a shell-style wildcard."""
    return _host().models.list(pattern)


def get_loss(name: str, **options: Any) -> Any:
    """Build a registered loss with its options."""
    return _host().losses.get(name)(**options)


def get_model(name: str, *, loss: str | None = None, **settings: Any) -> BuiltModel:
    """Build a registered model: ``get_model("acgan", num_classes=10, channels=1, image_size=28)``.

    Each setting goes to ``spec.build`` and to the loss factory when their signatures name
    it. A setting that neither takes and that is not one of the model's own is an error.
    """
    spec = get_model_spec(name)
    factory = _host().losses.get(loss or spec.loss)
    build_kwargs = accepted(spec.build, settings)
    loss_kwargs = accepted(factory, settings)
    unused = set(settings) - set(build_kwargs) - set(loss_kwargs) - set(model_settings(spec)) - set(DATA_ARGUMENTS)
    if unused:
        raise TypeError(f"{name} takes no setting {', '.join(sorted(unused))}")
    generator, discriminator = spec.build(**build_kwargs)
    return BuiltModel(spec, generator, discriminator, factory(**loss_kwargs))


def build_model(model: str, settings: dict[str, Any], num_classes: int) -> BuiltModel:
    """Build ``model`` from a run's resolved settings plus the data's class count."""
    spec = get_model_spec(model)
    factory = _host().losses.get(settings.get("loss") or spec.loss)
    kwargs = {key: settings[key] for key in model_settings(spec) if key in settings}
    kwargs.update({key: settings[key] for key in loss_options(factory) if key in settings})
    kwargs.update(channels=settings["channels"], image_size=settings["image_size"], num_classes=num_classes)
    try:
        return get_model(model, loss=settings.get("loss"), **kwargs)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot build {model!r} with these settings: {exc}") from None


def loss_options(factory: Callable[..., Any]) -> dict[str, Any]:
    """A loss factory's options (its keyword parameters with setting defaults)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {
        p.name: p.default
        for p in parameters
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and isinstance(p.default, SETTING_TYPES)
    }
