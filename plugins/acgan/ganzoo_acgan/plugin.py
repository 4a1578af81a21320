"""Hook implementations: how ACGAN enters ganzoo (entry point ``acgan`` in group ``ganzoo``)."""

from __future__ import annotations

from ganzoo import ModelSpec, hookimpl

from .loss import ACGANLoss
from .networks import build


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="acgan",
            build=build,
            loss="acgan",
            defaults={"latent_dim": 100, "bn_eps": 0.8, "reference_init": True},
            description="Auxiliary-classifier GAN (Odena et al. 2017), the reference networks with logit heads",
            conditional=True,
            train_defaults={"lr": 2e-4, "betas": [0.5, 0.999]},  # the reference's Adam
        )
    )


@hookimpl
def register_losses(register):
    register("acgan", ACGANLoss)
