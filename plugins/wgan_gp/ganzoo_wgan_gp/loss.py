"""The WGAN-GP loss (Gulrajani et al. 2017).

The critic minimises ``E[D(G(z))] - E[D(x)]`` plus the gradient penalty
``gp_weight * E[(||grad_x^ D(x^)||_2 - 1)^2]`` on random interpolates ``x^`` between real
and generated images; the generator minimises ``-E[D(G(z))]``. For a conditional critic
the interpolates are scored with the real images' labels.
"""

from __future__ import annotations

import torch

from ganzoo import DiscriminatorOutput


class WassersteinGPLoss:
    def __init__(self, gp_weight: float = 10.0):
        if gp_weight < 0:
            raise ValueError(f"gp_weight must be >= 0, got {gp_weight}")
        self.gp_weight = float(gp_weight)

    def discriminator_loss(
        self, real: DiscriminatorOutput, fake: DiscriminatorOutput, real_labels: torch.Tensor, fake_labels: torch.Tensor
    ) -> torch.Tensor:
        return fake.source.mean() - real.source.mean()

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> torch.Tensor:
        return -fake.source.mean()

    def discriminator_penalty(
        self, critic, real: torch.Tensor, fake: torch.Tensor, real_labels: torch.Tensor, fake_labels: torch.Tensor
    ) -> torch.Tensor:
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
        mixed = torch.lerp(fake.float(), real.float(), alpha).requires_grad_(True)
        scores = critic(mixed, real_labels).source
        (gradient,) = torch.autograd.grad(scores.float().sum(), mixed, create_graph=True)
        norms = gradient.flatten(1).norm(2, dim=1)
        return self.gp_weight * (norms - 1.0).square().mean()
