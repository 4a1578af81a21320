"""Hook implementations: how the projection cGAN enters ganzoo (entry point ``cgan``)."""

from __future__ import annotations

from pathlib import Path

from ganzoo import ModelSpec, hookimpl

from .loss import HingeLoss
from .networks import build

RECIPES = Path(__file__).parent / "recipes"


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="cgan",
            build=build,
            loss="hinge",
            defaults={"latent_dim": 128, "g_width": 64, "d_width": 32},
            description="Conditional GAN with a projection discriminator (Miyato & Koyama 2018), hinge loss",
            conditional=True,
            train_defaults={"lr": 2e-4, "betas": [0.5, 0.999]},  # SN-GAN's setting with one D step
        )
    )


@hookimpl
def register_losses(register):
    register("hinge", HingeLoss)


@hookimpl
def register_recipes(register):
    for path in sorted(RECIPES.glob("*.yaml")):
        register(path.stem, path, model="cgan")
