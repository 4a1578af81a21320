"""ganzoo: a plugin-based GAN zoo for PyTorch.

The public face of the core: the plugin markers, the model contracts and the registry
look-ups. The core knows no model; every model arrives through a plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any

from .errors import GanzooError, UsageError
from .hookspecs import hookimpl, hookspec
from .interfaces import Discriminator, DiscriminatorOutput, Generator, Loss
from .registry import ModelSpec

try:
    __version__ = metadata.version("ganzoo")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


@dataclass
class BuiltModel:
    """A model ready to train: its spec, the two networks and the loss object."""

    spec: ModelSpec
    generator: Generator
    discriminator: Discriminator
    loss: Loss


def get_model_spec(name: str) -> ModelSpec:
    from .plugins import get_host

    return get_host().models.get(name)


def get_loss(name: str, **options: Any) -> Loss:
    from .plugins import get_host

    return get_host().losses.get(name)(**options)


def get_model(name: str, *, loss: str | None = None, **settings: Any) -> BuiltModel:
    """Build a registered model: ``get_model("acgan", num_classes=10, channels=1, image_size=28)``.

    Each setting goes to ``spec.build`` and to the loss factory when their signatures name
    it (``gp_weight`` of wgan-gp reaches its loss this way). A setting that neither takes
    and that is not one of the model's own is an error.
    """
    from .plugins import get_host

    spec = get_model_spec(name)
    factory = get_host().losses.get(loss or spec.loss)
    build_kwargs = _accepted(spec.build, settings)
    loss_kwargs = _accepted(factory, settings)
    unused = set(settings) - set(build_kwargs) - set(loss_kwargs) - set(spec.defaults)
    if unused:
        raise TypeError(f"{name} takes no setting {', '.join(sorted(unused))}")
    generator, discriminator = spec.build(**build_kwargs)
    return BuiltModel(spec, generator, discriminator, factory(**loss_kwargs))


def _accepted(function: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that ``function``'s signature names (all of them if it takes ``**kwargs``)."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return dict(settings)
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return dict(settings)
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in settings.items() if k in names}


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching a shell-style wildcard."""
    from .plugins import get_host

    return get_host().models.list(pattern)


__all__ = [
    "BuiltModel",
    "Discriminator",
    "DiscriminatorOutput",
    "GanzooError",
    "Generator",
    "Loss",
    "ModelSpec",
    "UsageError",
    "__version__",
    "get_loss",
    "get_model",
    "get_model_spec",
    "hookimpl",
    "hookspec",
    "list_models",
]
