"""Hook implementations: how DCGAN enters ganzoo (entry point ``dcgan`` in group ``ganzoo``)."""

from __future__ import annotations

from pathlib import Path

from ganzoo import ModelSpec, hookimpl

from .loss import NonSaturatingLoss
from .networks import build

RECIPES = Path(__file__).parent / "recipes"


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="dcgan",
            build=build,
            loss="bce",
            defaults={"latent_dim": 100, "width": 64},
            description="Deep convolutional GAN (Radford et al. 2016), unconditional",
            conditional=False,
            train_defaults={"lr": 2e-4, "betas": [0.5, 0.999]},  # the paper's Adam
        )
    )


@hookimpl
def register_losses(register):
    register("bce", NonSaturatingLoss)


@hookimpl
def register_recipes(register):
    for path in sorted(RECIPES.glob("*.yaml")):
        register(path.stem, path, model="dcgan")
