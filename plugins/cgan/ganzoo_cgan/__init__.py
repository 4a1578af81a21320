"""cGAN with a projection discriminator (Miyato & Koyama 2018) for ganzoo, trained with
the hinge loss, for any size that doubles down to a 4-7 pixel square (28, 32, 64, ...).

Generator: z -> linear -> start-side maps, then per doubling: conditional BatchNorm (a
per-class scale and shift), ReLU, nearest upsampling, 3x3 convolution; BatchNorm, ReLU,
3x3 convolution and tanh at the end. The class enters through every normalisation layer.

Discriminator: spectrally normalised convolutions (3x3, then a 4x4 stride-2 per halving,
then 3x3) with LeakyReLU(0.1), a final ReLU and a global sum pool to a feature vector h;
the output is ``linear(h) + <embed(y), h>``: the projection of h on the class embedding,
the paper's way of conditioning D (instead of concatenating the label or an auxiliary
classifier).
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo import Discriminator, DiscriminatorOutput, Generator, ModelSpec, hookimpl
from ganzoo.blocks import ConditionalBatchNorm2d, NarrowConv2d, UpsampleConv2d, doubling_plan, projection, require_labels
from ganzoo.blocks import spectral_norm


class UpBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_classes: int):
        super().__init__()
        self.norm = ConditionalBatchNorm2d(in_channels, num_classes)
        self.conv = UpsampleConv2d(in_channels, out_channels)  # nearest 2x, then 3x3

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.relu(self.norm(x, labels)))


class ProjectionGenerator(Generator):
    def __init__(self, *, latent_dim: int = 128, num_classes: int = 10, channels: int = 1, image_size: int = 28,
                 width: int = 64):
        super().__init__(latent_dim=latent_dim, num_classes=num_classes, image_shape=(channels, image_size, image_size))
        if num_classes < 1:
            raise ValueError("cgan is conditional: it needs a data set with classes")
        self.start, doublings = doubling_plan(image_size)
        self.start_channels = width * 2 ** (doublings - 1)
        self.project = nn.Linear(latent_dim, self.start_channels * self.start**2)
        c = self.start_channels
        blocks = []
        for _ in range(doublings):
            blocks.append(UpBlock(c, max(c // 2, width // 2), num_classes))
            c = max(c // 2, width // 2)
        self.blocks = nn.ModuleList(blocks)
        self.to_image = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True), NarrowConv2d(c, channels, 3), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = require_labels(labels, "cgan's generator")
        x = self.project(z).view(z.shape[0], self.start_channels, self.start, self.start)
        for block in self.blocks:
            x = block(x, labels)
        return self.to_image(x)


class ProjectionDiscriminator(Discriminator):
    uses_labels = True

    def __init__(self, *, num_classes: int = 10, channels: int = 1, image_size: int = 28, width: int = 32):
        super().__init__(num_classes=num_classes, image_shape=(channels, image_size, image_size))
        _, doublings = doubling_plan(image_size)
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(channels, width, 3, 1, 1)), nn.LeakyReLU(0.1)]
        c = width
        for _ in range(doublings):
            layers += [spectral_norm(nn.Conv2d(c, c * 2, 4, 2, 1)), nn.LeakyReLU(0.1)]
            c *= 2
        layers += [spectral_norm(nn.Conv2d(c, c, 3, 1, 1)), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.source_head = spectral_norm(nn.Linear(c, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, c))

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> DiscriminatorOutput:
        labels = require_labels(labels, "the projection discriminator")
        h = self.features(images).sum(dim=(2, 3))  # global sum pooling, as in the paper
        return DiscriminatorOutput(self.source_head(h).squeeze(1) + projection(self.embed, h, labels))


def build(*, latent_dim: int = 128, num_classes: int = 10, channels: int = 1, image_size: int = 28,
          g_width: int = 64, d_width: int = 32) -> tuple[ProjectionGenerator, ProjectionDiscriminator]:
    generator = ProjectionGenerator(latent_dim=latent_dim, num_classes=num_classes, channels=channels,
                                    image_size=image_size, width=g_width)
    discriminator = ProjectionDiscriminator(num_classes=num_classes, channels=channels, image_size=image_size,
                                            width=d_width)
    return generator, discriminator


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="cgan",
        build=build,
        loss="hinge",
        description="Conditional GAN with a projection discriminator (Miyato & Koyama 2018), hinge loss",
        conditional=True,
    ))
