"""The standard GAN losses and discriminator regularisers, shared by every plugin.

A loss object turns discriminator outputs (:class:`ganzoo.DiscriminatorOutput`, logits)
into the D loss and the G loss; its constructor's keyword arguments are its options, and
they become run settings whenever the loss is chosen (``--set loss=least-squares --set
ls_c=0``), whichever model trains. The built-in plugin registers these under the names
below; a model plugin names one as its default (``ModelSpec.loss``) or imports a class to
build its own loss on top.

The regularisers are functions of a critic (``critic(images, labels)`` returns a
``DiscriminatorOutput``), added to the D loss by the default training step when their
settings (``gp_weight``, ``r1_gamma``) are non-zero.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .contracts import DiscriminatorOutput

Critic = Callable[[torch.Tensor, torch.Tensor | None], DiscriminatorOutput]


class NonSaturatingLoss:
    """The original GAN loss in its non-saturating form (Goodfellow et al. 2014): D
    minimises BCE(D(x), 1) + BCE(D(G(z)), 0), G minimises BCE(D(G(z)), 1)."""

    def discriminator_loss(
        self, real: DiscriminatorOutput, fake: DiscriminatorOutput, real_labels: torch.Tensor, fake_labels: torch.Tensor
    ) -> torch.Tensor:
        return (F.binary_cross_entropy_with_logits(real.source, torch.ones_like(real.source))
                + F.binary_cross_entropy_with_logits(fake.source, torch.zeros_like(fake.source)))

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake.source, torch.ones_like(fake.source))


class HingeLoss:
    """The hinge loss of SN-GAN and the projection discriminator (Miyato et al. 2018): D
    minimises E[max(0, m - D(x))] + E[max(0, m + D(G(z)))], G minimises -E[D(G(z))]."""

    def __init__(self, *, hinge_margin: float = 1.0):
        if hinge_margin <= 0:
            raise ValueError(f"hinge_margin must be > 0, got {hinge_margin}")
        self.margin = float(hinge_margin)

    def discriminator_loss(
        self, real: DiscriminatorOutput, fake: DiscriminatorOutput, real_labels: torch.Tensor, fake_labels: torch.Tensor
    ) -> torch.Tensor:
        return F.relu(self.margin - real.source).mean() + F.relu(self.margin + fake.source).mean()

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> torch.Tensor:
        return -fake.source.mean()


class WassersteinLoss:
    """The Wasserstein critic loss (Arjovsky et al. 2017): the critic minimises
    E[D(G(z))] - E[D(x)], G minimises -E[D(G(z))]. It needs a Lipschitz critic: train it
    with ``gp_weight`` (WGAN-GP), spectral norm or ``r1_gamma``."""

    def discriminator_loss(
        self, real: DiscriminatorOutput, fake: DiscriminatorOutput, real_labels: torch.Tensor, fake_labels: torch.Tensor
    ) -> torch.Tensor:
        return fake.source.mean() - real.source.mean()

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> torch.Tensor:
        return -fake.source.mean()


class LeastSquaresLoss:
    """LSGAN (Mao et al. 2017): D minimises ½E[(D(x) - b)²] + ½E[(D(G(z)) - a)²], G
    minimises ½E[(D(G(z)) - c)²]. The defaults are the paper's 0-1 coding (a=0, b=1,
    c=1, its Eq. 9 setting used in the experiments); a=-1, b=1, c=0 is its other setting,
    the one that minimises the Pearson chi-squared divergence (b - c = 1, b - a = 2)."""

    def __init__(self, *, ls_a: float = 0.0, ls_b: float = 1.0, ls_c: float = 1.0):
        self.a, self.b, self.c = float(ls_a), float(ls_b), float(ls_c)

    def discriminator_loss(
        self, real: DiscriminatorOutput, fake: DiscriminatorOutput, real_labels: torch.Tensor, fake_labels: torch.Tensor
    ) -> torch.Tensor:
        return 0.5 * (real.source - self.b).square().mean() + 0.5 * (fake.source - self.a).square().mean()

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake.source - self.c).square().mean()


STANDARD_LOSSES = {
    "non-saturating": NonSaturatingLoss,
    "hinge": HingeLoss,
    "wasserstein": WassersteinLoss,
    "least-squares": LeastSquaresLoss,
}


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017): E[(||grad D(x^)||_2 - 1)^2] on random
    interpolates x^ between real and generated images (in fp32; a conditional critic
    scores them with the real images' labels). Multiply by ``gp_weight``."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
    mixed = torch.lerp(fake.float(), real.float(), alpha).requires_grad_(True)
    scores = critic(mixed, labels).source
    (gradient,) = torch.autograd.grad(scores.float().sum(), mixed, create_graph=True)
    norms = gradient.flatten(1).norm(2, dim=1)
    return (norms - 1.0).square().mean()


def r1_penalty(scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad_x D(x)||^2] on real images, where ``scores``
    are D's source logits of ``real`` (which must require grad). The D loss adds
    ``r1_gamma / 2`` times this."""
    (gradient,) = torch.autograd.grad(scores.float().sum(), real, create_graph=True)
    return gradient.float().flatten(1).square().sum(1).mean()
