"""Hook implementations: how WGAN-GP enters ganzoo (entry point ``wgan-gp``)."""

from __future__ import annotations

from pathlib import Path

from ganzoo import ModelSpec, hookimpl

from .loss import WassersteinGPLoss
from .networks import build

RECIPES = Path(__file__).parent / "recipes"


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="wgan-gp",
            build=build,
            loss="wgan-gp",
            defaults={"latent_dim": 128, "width": 64, "conditional": False, "gp_weight": 10.0},
            description="Wasserstein GAN with gradient penalty (Gulrajani et al. 2017); conditional: true adds labels",
            conditional="optional",
            # Algorithm 1 of the paper: alpha = 1e-4, beta1 = 0, beta2 = 0.9, n_critic = 5.
            train_defaults={"lr": 1e-4, "betas": [0.0, 0.9], "n_critic": 5},
        )
    )


@hookimpl
def register_losses(register):
    register("wgan-gp", WassersteinGPLoss)


@hookimpl
def register_recipes(register):
    for path in sorted(RECIPES.glob("*.yaml")):
        register(path.stem, path, model="wgan-gp")
