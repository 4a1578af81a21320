"""The hinge loss of SN-GAN and the projection discriminator (Miyato et al. 2018):
D minimises E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))], G minimises -E[D(G(z))].
Source logits only, so it fits any discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganzoo import DiscriminatorOutput


class HingeLoss:
    def discriminator_loss(
        self, real: DiscriminatorOutput, fake: DiscriminatorOutput, real_labels: torch.Tensor, fake_labels: torch.Tensor
    ) -> torch.Tensor:
        return F.relu(1.0 - real.source).mean() + F.relu(1.0 + fake.source).mean()

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> torch.Tensor:
        return -fake.source.mean()
