"""WGAN-GP (Gulrajani et al. 2017) for ganzoo, conditional or not, for any size that
doubles down to a 4-7 pixel square (28, 32, 64, ...). The paper's MNIST networks,
generalised; the Wasserstein loss and the gradient penalty are ganzoo's standard ones
(``loss: wasserstein``, ``gp_weight: 10``), with Algorithm 1's five critic steps and Adam.

Generator: z (concatenated with a learned class embedding when conditional) -> linear ->
BatchNorm -> ReLU -> start-side maps, then transposed 5x5 stride-2 convolutions with
BatchNorm and ReLU, tanh at the end.

Critic: 5x5 stride-2 convolutions with LeakyReLU(0.2) and *no* batch normalisation (the
gradient penalty is taken per sample, which batch statistics would break), then one linear
output; when conditional, plus a projection term ``<embed(y), h>`` on the flattened
features h (Miyato & Koyama's way of conditioning a critic).
"""

from __future__ import annotations

import torch
from torch import nn

from ganzoo import Discriminator, DiscriminatorOutput, Generator, ModelSpec, hookimpl
from ganzoo.blocks import doubling_plan, projection, require_labels


def _up(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """A transposed 5x5 stride-2 convolution that exactly doubles the side."""
    return nn.ConvTranspose2d(in_channels, out_channels, 5, stride=2, padding=2, output_padding=1)


class WGANGenerator(Generator):
    def __init__(self, *, latent_dim: int = 128, num_classes: int = 0, channels: int = 1, image_size: int = 28,
                 width: int = 64):
        super().__init__(latent_dim=latent_dim, num_classes=num_classes, image_shape=(channels, image_size, image_size))
        self.start, doublings = doubling_plan(image_size)
        self.start_channels = width * 2**doublings
        self.label_embedding = nn.Embedding(num_classes, latent_dim) if num_classes else None
        in_features = latent_dim * (2 if num_classes else 1)
        self.project = nn.Sequential(
            nn.Linear(in_features, self.start_channels * self.start**2),
            nn.BatchNorm1d(self.start_channels * self.start**2),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        c = self.start_channels
        for _ in range(doublings - 1):
            layers += [_up(c, c // 2), nn.BatchNorm2d(c // 2), nn.ReLU(inplace=True)]
            c //= 2
        layers += [_up(c, channels), nn.Tanh()]
        self.blocks = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_embedding is not None:
            z = torch.cat([z, self.label_embedding(require_labels(labels, "this wgan-gp generator"))], dim=1)
        x = self.project(z).view(z.shape[0], self.start_channels, self.start, self.start)
        return self.blocks(x)


class WGANCritic(Discriminator):
    def __init__(self, *, num_classes: int = 0, channels: int = 1, image_size: int = 28, width: int = 64):
        super().__init__(num_classes=num_classes, image_shape=(channels, image_size, image_size))
        self.uses_labels = num_classes > 0
        start, doublings = doubling_plan(image_size)
        layers: list[nn.Module] = []
        c_in, c = channels, width
        for _ in range(doublings):
            layers += [nn.Conv2d(c_in, c, 5, stride=2, padding=2), nn.LeakyReLU(0.2, inplace=True)]
            c_in, c = c, c * 2
        self.features = nn.Sequential(*layers)
        features = c_in * start * start
        self.source_head = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> DiscriminatorOutput:
        h = self.features(images).flatten(1)
        out = self.source_head(h).squeeze(1)
        if self.embed is not None:
            out = out + projection(self.embed, h, require_labels(labels, "this wgan-gp critic"))
        return DiscriminatorOutput(out)


def build(*, latent_dim: int = 128, num_classes: int = 10, channels: int = 1, image_size: int = 28,
          width: int = 64, conditional: bool = False) -> tuple[WGANGenerator, WGANCritic]:
    """``conditional``: generator and critic see the class labels (else ``num_classes`` is unused)."""
    classes = num_classes if conditional else 0
    generator = WGANGenerator(latent_dim=latent_dim, num_classes=classes, channels=channels, image_size=image_size,
                              width=width)
    critic = WGANCritic(num_classes=classes, channels=channels, image_size=image_size, width=width)
    return generator, critic


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="wgan-gp",
        build=build,
        loss="wasserstein",
        description="Wasserstein GAN with gradient penalty (Gulrajani et al. 2017); conditional: true adds labels",
        conditional="optional",
        # Algorithm 1 of the paper: lambda = 10, n_critic = 5, alpha = 1e-4, beta1 = 0, beta2 = 0.9.
        train_defaults={"gp_weight": 10.0, "n_critic": 5, "lr": 1e-4, "betas": [0.0, 0.9]},
    ))
