"""TAC-GAN (Gong, Xu, Zhang, Tao, Batmanghelich & Liu, NeurIPS 2019) for ganzoo: ACGAN's
networks plus a twin auxiliary classifier.

ACGAN's generator is rewarded for images its classifier finds easy, which pulls each
class towards its most typical, least varied images. TAC-GAN adds a twin classifier
C_mi, trained on *generated* images to name the class they were made for; G is rewarded
for making C_mi's job hard, which cancels the bias (the paper shows the combined
objective minimises the JS divergence between the real and generated joint
distributions of image and class):

    D:  adversarial + w * [ CE(C(x_real), y) + CE(C_mi(G(z, y')), y') ]
    G:  adversarial + w * [ CE(C(G(z, y')), y') - CE(C_mi(G(z, y')), y') ]

C and C_mi are linear heads on D's shared features; unlike ACGAN's, C learns from real
images only. The adversarial term is ACGAN's (BCE on logits), ``w`` is ``aux_weight``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import AdversarialStep, DiscriminatorOutput, ModelSpec, hookimpl
from ganzoo.losses import NonSaturatingLoss
from ganzoo_acgan import TRAIN_DEFAULTS, TUNINGS, ACGANDiscriminator, ACGANGenerator, reference_initialised


class TACGANDiscriminator(ACGANDiscriminator):
    """ACGAN's discriminator with a second class head, the twin classifier C_mi."""

    def __init__(self, *, num_classes: int = 10, channels: int = 1, image_size: int = 28, bn_eps: float = 1e-5):
        super().__init__(num_classes=num_classes, channels=channels, image_size=image_size, bn_eps=bn_eps)
        self.twin_head = nn.Linear(self.class_head.in_features, num_classes)


class TACGANLoss(NonSaturatingLoss):
    """The adversarial term and C's term; the twin's terms are the step's (they need the
    twin head, which is D's)."""

    def __init__(self, *, aux_weight: float = 1.0):
        self.aux_weight = aux_weight

    def discriminator_loss(self, real: DiscriminatorOutput, fake: DiscriminatorOutput, real_labels, fake_labels):
        source = super().discriminator_loss(real, fake, real_labels, fake_labels)
        return source + self.aux_weight * F.cross_entropy(real.classes.float(), real_labels)

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels):
        source = super().generator_loss(fake, fake_labels)
        return source + self.aux_weight * F.cross_entropy(fake.classes.float(), fake_labels)


class TACGANStep(AdversarialStep):
    """The adversarial step plus the twin classifier's terms (logged as d_twin, g_twin)."""

    def _twin_cross_entropy(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> torch.Tensor:
        twin = self.context.discriminator.twin_head(fake.features)
        return getattr(self.context.loss, "aux_weight", 1.0) * F.cross_entropy(twin.float(), fake_labels)

    def discriminator_terms(self, real, fake, labels, fake_labels):
        return {**super().discriminator_terms(real, fake, labels, fake_labels),
                "d_twin": self._twin_cross_entropy(fake, fake_labels)}

    def generator_terms(self, fake, fake_labels):
        return {**super().generator_terms(fake, fake_labels), "g_twin": -self._twin_cross_entropy(fake, fake_labels)}


def build(*, latent_dim: int = 100, num_classes: int = 10, channels: int = 1, image_size: int = 28,
          bn_eps: float = 1e-5) -> tuple[ACGANGenerator, TACGANDiscriminator]:
    return reference_initialised(  # acgan's networks and initialisation
        ACGANGenerator(latent_dim=latent_dim, num_classes=num_classes, channels=channels, image_size=image_size,
                       bn_eps=bn_eps),
        TACGANDiscriminator(num_classes=num_classes, channels=channels, image_size=image_size, bn_eps=bn_eps))


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="tacgan",
        build=build,
        loss="tacgan",
        step=TACGANStep,
        description="Twin auxiliary classifiers GAN (Gong et al. 2019): ACGAN without its low-diversity bias",
        conditional=True,
        tunings={recipe: dict(settings) for recipe, settings in TUNINGS.items()},
        train_defaults=dict(TRAIN_DEFAULTS),  # acgan's, so that the two differ only in the twin
    ))


@hookimpl
def register_losses(register):
    register("tacgan", TACGANLoss)
