"""InfoGAN (Chen et al. 2016) for ganzoo, as a plugin that brings its own training step.

G's input is 62 noise values, a 10-way categorical code (one-hot) and 2 continuous codes
in U(-1, 1): ``sample_latent`` draws all of it, so the loop's own seeded draws carry the
codes. The networks are the paper's MNIST ones (Table 1 of its appendix), with tanh for
ganzoo's [-1, 1] images. The Q head shares D's trunk; it belongs to the step, with an
optimiser of its own, and both go into every checkpoint. The mutual-information lower
bound L_I (cross-entropy of the categorical code, plus 0.5 x squared error of the
continuous ones, a unit-variance Gaussian, weighted by ``info_cont_weight``) is added,
times ``info_weight``, to D's loss (training the trunk and Q) and to G's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import AdversarialStep, Discriminator, DiscriminatorOutput, Generator, ModelSpec, hookimpl
from ganzoo.blocks import normal_init

NOISE, CATEGORIES, CONTINUOUS = 62, 10, 2


class InfoGenerator(Generator):
    def __init__(self, *, channels: int = 1, image_size: int = 28):
        super().__init__(latent_dim=NOISE + CATEGORIES + CONTINUOUS, num_classes=0,
                         image_shape=(channels, image_size, image_size))
        self.side = image_size // 4
        self.project = nn.Sequential(
            nn.Linear(self.latent_dim, 1024), nn.BatchNorm1d(1024), nn.ReLU(True),
            nn.Linear(1024, 128 * self.side**2), nn.BatchNorm1d(128 * self.side**2), nn.ReLU(True))
        self.up = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(True),
                                nn.ConvTranspose2d(64, channels, 4, 2, 1), nn.Tanh())

    def sample_latent(self, n, *, device=None, generator=None):
        noise = torch.rand(n, NOISE, device=device, generator=generator) * 2 - 1
        codes = torch.randint(0, CATEGORIES, (n,), device=device, generator=generator)
        continuous = torch.rand(n, CONTINUOUS, device=device, generator=generator) * 2 - 1
        return torch.cat([noise, F.one_hot(codes, CATEGORIES).to(noise.dtype), continuous], dim=1)

    def forward(self, z, labels=None):
        return self.up(self.project(z).view(-1, 128, self.side, self.side))


class InfoDiscriminator(Discriminator):
    def __init__(self, *, channels: int = 1, image_size: int = 28):
        super().__init__(num_classes=0, image_shape=(channels, image_size, image_size))
        side = image_size // 4
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, 64, 4, 2, 1), nn.LeakyReLU(0.1, True),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.1, True), nn.Flatten(),
            nn.Linear(128 * side * side, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.1, True))
        self.source_head = nn.Linear(1024, 1)

    def forward(self, images):
        return DiscriminatorOutput(self.source_head(self.trunk(images)).squeeze(1))


def codes_of(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return z[:, NOISE:NOISE + CATEGORIES].argmax(1), z[:, NOISE + CATEGORIES:]


class InfoGANStep(AdversarialStep):
    """The adversarial step plus L_I on the fakes, in D's update and in G's; Q's own
    optimiser steps once per step on both updates' gradients."""

    settings = {"info_weight": 1.0, "info_cont_weight": 0.1}

    def __init__(self, context):
        super().__init__(context)
        s = context.settings
        self.q_head = nn.Sequential(nn.Linear(1024, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.1, True),
                                    nn.Linear(128, CATEGORIES + CONTINUOUS))
        self.q = context.distributed(self.q_head)
        self.opt_q = torch.optim.Adam(self.q_head.parameters(), lr=s.lr_d or s.lr, betas=tuple(s.betas_d or s.betas))

    def optimizers(self):
        return {"q": self.opt_q}

    def information_loss(self, trunk: nn.Module, fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = self.q(trunk(fake))
        category, continuous = codes_of(z)
        categorical = F.cross_entropy(out[:, :CATEGORIES].float(), category)
        gaussian = 0.5 * (out[:, CATEGORIES:].float() - continuous).square().sum(1).mean()
        s = self.context.settings
        return s.info_weight * (categorical + s.info_cont_weight * gaussian)

    def forward(self, batch):
        self.opt_q.zero_grad(set_to_none=not self.context.graphed)
        logged = super().forward(batch)
        self.opt_q.step()
        return logged

    def discriminator_losses(self, real, labels, fake, fake_labels, z):
        terms, extras = super().discriminator_losses(real, labels, fake, fake_labels, z)
        terms["d_info"] = self.information_loss(self.context.discriminator.trunk, fake, z)
        return terms, extras

    def generator_losses(self, fake, fake_labels, z):
        terms = super().generator_losses(fake, fake_labels, z)
        terms["g_info"] = self.information_loss(self.context.discriminator.trunk, fake, z)
        return terms


def build(*, channels: int = 1, image_size: int = 28):
    if image_size % 4:
        raise ValueError(f"infogan needs an image size divisible by 4, got {image_size}")
    generator, discriminator = InfoGenerator(channels=channels, image_size=image_size), InfoDiscriminator(
        channels=channels, image_size=image_size)
    generator.apply(normal_init)
    discriminator.apply(normal_init)
    return generator, discriminator


@hookimpl
def register_models(register):
    register(ModelSpec(name="infogan", build=build, loss="non-saturating", step=InfoGANStep, conditional=False,
                       description="InfoGAN (Chen et al. 2016): a categorical and 2 continuous codes, its own step",
                       train_defaults={"lr_g": 1e-3}))  # the paper: 2e-4 for D, 1e-3 for G
