"""ReACGAN (Kang, Shin & Park, NeurIPS 2021, "Rebooting ACGAN") for ganzoo: ACGAN's
networks with the auxiliary classifier replaced by the data-to-data cross-entropy.

ACGAN's classifier loss grows D's feature norms and its gradients early in training,
which is where ACGAN collapses. ReACGAN projects D's features onto the unit sphere,
``f = normalise(W h)``, keeps one learnt unit proxy ``v_c`` per class, and compares each
image with its class proxy and with the other images of the batch:

    D2D-CE = -1/N sum_i log  exp([f_i.v_yi - m_p]_- / T)
                             / ( exp([f_i.v_yi - m_p]_- / T)
                                 + sum_{j: y_j != y_i} exp([f_i.f_j - m_n]_+ / T) )

with [u]_- = min(u, 0) and [u]_+ = max(u, 0): the margins stop pulling an image that is
already close to its proxy and stop pushing images that are already far apart; images
of the same class are not negatives (the paper's false-negative removal). D minimises
adversarial + w * D2D-CE on real images, G adversarial + w * D2D-CE on its images.
The paper's values: T = 0.5, m_p = 0.98, m_n = 0.02, w = 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import DiscriminatorOutput, ModelSpec, hookimpl
from ganzoo.losses import NonSaturatingLoss
from ganzoo_acgan import TRAIN_DEFAULTS, TUNINGS, ACGANDiscriminator, ACGANGenerator, reference_initialised


class ReACGANDiscriminator(ACGANDiscriminator):
    """ACGAN's trunk and source head; ``classes`` are the cosines between the image's
    embedding and every class proxy (argmax names the class), ``features`` the unit
    embeddings."""

    def __init__(self, *, num_classes: int = 10, channels: int = 1, image_size: int = 28, bn_eps: float = 1e-5,
                 embed_dim: int = 256):
        super().__init__(num_classes=num_classes, channels=channels, image_size=image_size, bn_eps=bn_eps)
        self.embed = nn.Linear(self.class_head.in_features, embed_dim)
        self.proxies = nn.Embedding(num_classes, embed_dim)
        del self.class_head

    def forward(self, images: torch.Tensor) -> DiscriminatorOutput:
        h = self.features(images).flatten(1)
        embedded = self.embed(h)
        with torch.autocast(images.device.type, enabled=False):  # cosines near the margins need fp32
            embeddings = F.normalize(embedded.float(), dim=1)
            cosines = embeddings @ F.normalize(self.proxies.weight.float(), dim=1).t()
        return DiscriminatorOutput(self.source_head(h).squeeze(1), cosines, embeddings)


def d2d_cross_entropy(embeddings: torch.Tensor, proxy_cosines: torch.Tensor, labels: torch.Tensor, *,
                      temperature: float, margin_p: float, margin_n: float) -> torch.Tensor:
    """The D2D-CE above: ``embeddings`` (N, F) unit rows, ``proxy_cosines`` (N, K) their
    cosines with every class proxy, ``labels`` (N,)."""
    positive = (proxy_cosines.gather(1, labels[:, None]) - margin_p).clamp(max=0) / temperature  # (N, 1)
    negatives = ((embeddings @ embeddings.t()) - margin_n).clamp(min=0) / temperature  # (N, N)
    other_class = labels[:, None] != labels[None, :]  # also drops i == j
    negatives = negatives.masked_fill(~other_class, float("-inf"))
    return (torch.logsumexp(torch.cat([positive, negatives], dim=1), dim=1) - positive.squeeze(1)).mean()


class ReACGANLoss(NonSaturatingLoss):
    """BCE-on-logits adversarial terms (ACGAN's) plus ``d2d_weight`` x D2D-CE: on real
    images for D, on generated ones (with the classes they were made for) for G."""

    def __init__(self, *, d2d_weight: float = 1.0, temperature: float = 0.5, margin_p: float = 0.98,
                 margin_n: float = 0.02):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.weight = d2d_weight
        self.options = {"temperature": temperature, "margin_p": margin_p, "margin_n": margin_n}

    def _d2d(self, out: DiscriminatorOutput, labels: torch.Tensor) -> torch.Tensor:
        with torch.autocast(labels.device.type, enabled=False):
            return self.weight * d2d_cross_entropy(out.features.float(), out.classes.float(), labels, **self.options)

    def discriminator_loss(self, real: DiscriminatorOutput, fake: DiscriminatorOutput, real_labels, fake_labels):
        source = super().discriminator_loss(real, fake, real_labels, fake_labels)
        return source + self._d2d(real, real_labels)

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels):
        source = super().generator_loss(fake, fake_labels)
        return source + self._d2d(fake, fake_labels)


def build(*, latent_dim: int = 100, num_classes: int = 10, channels: int = 1, image_size: int = 28,
          bn_eps: float = 1e-5, embed_dim: int = 256) -> tuple[ACGANGenerator, ReACGANDiscriminator]:
    return reference_initialised(  # acgan's networks and initialisation
        ACGANGenerator(latent_dim=latent_dim, num_classes=num_classes, channels=channels, image_size=image_size,
                       bn_eps=bn_eps),
        ReACGANDiscriminator(num_classes=num_classes, channels=channels, image_size=image_size, bn_eps=bn_eps,
                             embed_dim=embed_dim))


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="reacgan",
        build=build,
        loss="d2d-ce",
        description="Rebooted ACGAN (Kang et al. 2021): data-to-data cross-entropy on D's unit embeddings",
        conditional=True,
        tunings={recipe: dict(settings) for recipe, settings in TUNINGS.items()},
        train_defaults=dict(TRAIN_DEFAULTS),  # acgan's, so that the two differ only in the class loss
    ))


@hookimpl
def register_losses(register):
    register("d2d-ce", ReACGANLoss)
