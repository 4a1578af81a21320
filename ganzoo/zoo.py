"""The zoo: the registered models and losses looked up by name, and a model built from
settings. Every lookup of a model goes through here (``get_model_spec``), and every build
through :func:`get_model`, the one builder (torchvision's ``get_model(name, **config)``):
a run's resolved settings reach it through :func:`build_model`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from .errors import UsageError
from .models import DATA_ARGUMENTS, BuiltModel, ModelSpec, model_settings
from .plugins import get_host
from .signatures import accepted, setting_defaults


def get_model_spec(name: str, plugin: str | None = None) -> ModelSpec:
    """The registered model ``name``; an unknown name is a UsageError naming close matches.
    ``plugin``: the plugin that made a run of it, which settles a name two plugins register."""
    return get_host().models.of_plugin(name, plugin)


def has_model(name: str, plugin: str | None = None) -> bool:
    """Whether ``name`` can be built: registered, or contested and ``plugin`` one of its owners."""
    models = get_host().models
    return name in models or (plugin is not None and plugin in models.contested.get(name, {}))


def known_model(name: str) -> None:
    """Refuse a model name that no enabled plugin registers (a contested one is known: a
    run's record may settle it)."""
    if name not in get_host().models.contested:
        get_model_spec(name)


def recorded_plugin(config: Mapping[str, Any]) -> str | None:
    """The plugin a run's record (config.yaml, a checkpoint's or an export's config) says
    made its model; None for runs of ganzoo before 0.6.1."""
    origin = config.get("origin")
    return origin.get("plugin") if isinstance(origin, Mapping) and isinstance(origin.get("plugin"), str) else None


def model_origin(name: str) -> dict[str, str]:
    """Which plugin (and distribution, version) registered the model ``name``: what a run records."""
    owner = model_owner(name)
    info = next((plugin for plugin in get_host().plugins if plugin.name == owner), None)
    return {"plugin": owner, "distribution": info.distribution if info else "", "version": info.version if info else ""}


def model_owner(name: str) -> str:
    """The plugin that registered the model ``name`` ('' when none did)."""
    return get_host().models.owner(name)


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching a shell-style wildcard."""
    return get_host().models.list(pattern)


def loss_factory(name: str) -> Callable[..., Any]:
    """The registered loss ``name``'s factory."""
    return get_host().losses.get(name)


def loss_options(factory: Callable[..., Any]) -> dict[str, Any]:
    """A loss factory's options: its keyword parameters with setting defaults."""
    return setting_defaults(factory, keyword_only=False)


def get_loss(name: str, **options: Any) -> Any:
    """Build a registered loss with its options."""
    return loss_factory(name)(**options)


def get_model(name: str, *, loss: str | None = None, plugin: str | None = None, **settings: Any) -> BuiltModel:
    """Build a registered model: ``get_model("acgan", num_classes=10, channels=1, image_size=28)``.

    Each setting goes to ``spec.build`` and to the loss factory when their signatures name
    it. A setting that neither takes and that is not one of the model's own is an error.
    ``plugin``: see :func:`get_model_spec`.
    """
    spec = get_model_spec(name, plugin)
    factory = loss_factory(loss or spec.loss)
    build_kwargs = accepted(spec.build, settings)
    loss_kwargs = accepted(factory, settings)
    unused = set(settings) - set(build_kwargs) - set(loss_kwargs) - set(model_settings(spec)) - set(DATA_ARGUMENTS)
    if unused:
        raise TypeError(f"{name} takes no setting {', '.join(sorted(unused))}")
    generator, discriminator = spec.build(**build_kwargs)
    return BuiltModel(spec, generator, discriminator, factory(**loss_kwargs))


def build_model(model: str, settings: Mapping[str, Any], num_classes: int, plugin: str | None = None) -> BuiltModel:
    """Build ``model`` with :func:`get_model` from a run's resolved settings (the model's
    own and its loss's options among them) plus the data's class count; ``plugin``: the
    plugin the run recorded."""
    spec = get_model_spec(model, plugin)
    loss = settings.get("loss") or spec.loss
    kwargs = {key: settings[key] for key in model_settings(spec) if key in settings}
    kwargs.update({key: settings[key] for key in loss_options(loss_factory(loss)) if key in settings})
    kwargs.update(channels=settings["channels"], image_size=settings["image_size"], num_classes=num_classes)
    try:
        with warnings.catch_warnings():  # said below in ganzoo's words, with the setting to blame
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors is a no-op")
            built = get_model(model, loss=settings.get("loss"), plugin=plugin, **kwargs)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot build {model!r} with these settings: {exc}") from None
    _refuse_empty_layers(model, built, kwargs)
    return built


def _refuse_empty_layers(model: str, built: BuiltModel, settings: Mapping[str, Any]) -> None:
    """A size of 0 (``--set latent_dim=0``) builds layers with no weights, which train as
    if nothing were wrong: refuse them, naming the settings that are 0 or less."""
    for part, network in (("generator", built.generator), ("discriminator", built.discriminator)):
        empty = next((name for name, weight in network.named_parameters() if weight.numel() == 0), None)
        if empty is None:
            continue
        sizes = [f"{key}={value}" for key, value in settings.items()
                 if isinstance(value, int) and not isinstance(value, bool) and value <= 0]
        blamed = ", ".join(sizes) if sizes else "these settings"
        raise UsageError(f"{model} with {blamed} has a layer with no weights (the {part}'s {empty}); "
                         "a size must be at least 1")
