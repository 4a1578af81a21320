"""DCGAN (Radford, Metz & Chintala 2016) for ganzoo: unconditional, trained with the
standard non-saturating loss, for any size that doubles down to a 4-7 pixel square.

Generator: project z to ``width * 2**(k-1)`` maps of the start side, BatchNorm, ReLU, then
``k`` transposed 4x4 stride-2 convolutions that halve the channels and double the side
(BatchNorm + ReLU between them), tanh at the end. Discriminator: the mirror image, 4x4
stride-2 convolutions with LeakyReLU(0.2), BatchNorm on all but the first, and one linear
logit. Weights start from N(0, 0.02) as in the paper; Adam with lr 2e-4 and beta1 0.5 (the
paper's) is ganzoo's default.
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo import Discriminator, DiscriminatorOutput, Generator, ModelSpec, hookimpl
from ganzoo.blocks import doubling_plan, normal_init


class DCGANGenerator(Generator):
    def __init__(self, *, latent_dim: int = 100, channels: int = 1, image_size: int = 28, width: int = 64):
        super().__init__(latent_dim=latent_dim, num_classes=0, image_shape=(channels, image_size, image_size))
        self.start, doublings = doubling_plan(image_size)
        self.start_channels = width * 2 ** (doublings - 1)
        self.project = nn.Linear(latent_dim, self.start_channels * self.start**2, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(self.start_channels), nn.ReLU(inplace=True)]
        c = self.start_channels
        for _ in range(doublings - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(inplace=True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.blocks = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.project(z).view(z.shape[0], self.start_channels, self.start, self.start)
        return self.blocks(x)


class DCGANDiscriminator(Discriminator):
    def __init__(self, *, channels: int = 1, image_size: int = 28, width: int = 64):
        super().__init__(num_classes=0, image_shape=(channels, image_size, image_size))
        start, doublings = doubling_plan(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for _ in range(doublings - 1):
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c * 2), nn.LeakyReLU(0.2, inplace=True)]
            c *= 2
        self.features = nn.Sequential(*layers)
        self.source_head = nn.Linear(c * start * start, 1)

    def forward(self, images: torch.Tensor) -> DiscriminatorOutput:
        return DiscriminatorOutput(self.source_head(self.features(images).flatten(1)).squeeze(1))


def build(*, latent_dim: int = 100, channels: int = 1, image_size: int = 28,
          width: int = 64) -> tuple[DCGANGenerator, DCGANDiscriminator]:
    generator = DCGANGenerator(latent_dim=latent_dim, channels=channels, image_size=image_size, width=width)
    discriminator = DCGANDiscriminator(channels=channels, image_size=image_size, width=width)
    generator.apply(normal_init)
    discriminator.apply(normal_init)
    return generator, discriminator


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="dcgan",
        build=build,
        loss="non-saturating",
        description="Deep convolutional GAN (Radford et al. 2016), unconditional",
        conditional=False,
    ))
