"""The original GAN loss in its non-saturating form (Goodfellow et al. 2014), as DCGAN
trains with it: D minimises BCE(D(x), 1) + BCE(D(G(z)), 0), G minimises BCE(D(G(z)), 1).
Source logits only, so it fits any discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganzoo import DiscriminatorOutput


class NonSaturatingLoss:
    def discriminator_loss(
        self, real: DiscriminatorOutput, fake: DiscriminatorOutput, real_labels: torch.Tensor, fake_labels: torch.Tensor
    ) -> torch.Tensor:
        return (F.binary_cross_entropy_with_logits(real.source, torch.ones_like(real.source))
                + F.binary_cross_entropy_with_logits(fake.source, torch.zeros_like(fake.source)))

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake.source, torch.ones_like(fake.source))
