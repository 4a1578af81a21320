"""Models: what a plugin registers (:class:`ModelSpec`) and what building one gives
(:class:`BuiltModel`). Looking a model up by name and building it from settings is
``zoo.py``'s.

A model's settings are its ``build`` function's keyword-only parameters with their
defaults (torchvision's ``get_model(name, **config)``): ``build(*, latent_dim=100,
width=64, channels=1, image_size=28, num_classes=10)`` gives the settings ``latent_dim``
and ``width``; ``channels``, ``image_size`` and ``num_classes`` come from the data and are
passed only when the signature names them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .signatures import setting_defaults

DATA_ARGUMENTS = ("channels", "image_size", "num_classes")


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


def model_settings(spec: ModelSpec) -> dict[str, Any]:
    """The model's own settings and their defaults: ``build``'s keyword-only parameters
    (or ``spec.defaults`` when given), plus the settings its step declares (a
    ``settings`` mapping on the step class)."""
    own = dict(spec.defaults) if spec.defaults else setting_defaults(spec.build, skip=DATA_ARGUMENTS)
    return {**own, **dict(getattr(spec.step, "settings", None) or {})}
