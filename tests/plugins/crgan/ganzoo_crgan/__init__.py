"""ACGAN with consistency regularisation (Zhang et al. 2020, CR-GAN) for ganzoo: D's score
of a real image should not change when the image is shifted. One hook of the default
step, ``discriminator_update``, has the images D saw and its scores of them at hand, so
the term costs only its own D pass (on the shifted images). A test plugin of the step API."""

from __future__ import annotations

from ganzoo_acgan import build

from ganzoo import AdversarialStep, ModelSpec, hookimpl
from ganzoo.augment import color


class ConsistencyStep(AdversarialStep):
    """The default step plus ``cr_weight`` x E ||D(T(x)) - D(x)||^2 on the real images
    as D saw them (T: DiffAugment's translation), logged as ``d_cr``."""

    settings = {"cr_weight": 1.0}

    def discriminator_update(self, d):
        terms = super().discriminator_update(d)
        shifted = d.critic(color(d.real), d.labels)
        change = (shifted.source.float() - d.real_out.source.float()).square().mean()
        terms["d_cr"] = self.context.settings.cr_weight * change
        return terms


@hookimpl
def register_models(register):
    register(ModelSpec(name="crgan", build=build, loss="acgan", step=ConsistencyStep,
                       description="ACGAN with consistency regularisation (Zhang et al. 2020)"))
