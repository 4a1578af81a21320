"""SNGAN (Miyato, Kataoka, Koyama & Yoshida, ICLR 2018) for ganzoo: unconditional, the
paper's ResNet networks (its appendix, CIFAR-10) scaled down for 28x28 and 32x32 images,
spectral norm on every layer of D, and the hinge loss.

Generator: z -> Linear -> ``g_width`` maps of the start side (7 for 28, 4 for 32), one
up-block per doubling (BN, ReLU, nearest 2x, conv 3x3, BN, ReLU, conv 3x3, plus a
1x1-conv shortcut of the upsampled input), BN, ReLU, conv 3x3, tanh. Discriminator: the
paper's four blocks (an "optimised" first down-block, a down-block, two plain blocks; ReLU
before each conv, average pooling to go down), ReLU, global sum pooling, one linear logit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import Discriminator, DiscriminatorOutput, Generator, ModelSpec, hookimpl
from ganzoo.blocks import NarrowConv2d, doubling_plan, spectral_norm


def _conv(in_channels: int, out_channels: int, kernel: int = 3, *, sn: bool = False, narrow: bool = False) -> nn.Module:
    # narrow: few output channels (the to-image layer), split into a 1x1 conv on the CPU
    if narrow:
        conv = NarrowConv2d(in_channels, out_channels, kernel)
    else:
        conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
    nn.init.xavier_uniform_(conv.weight, gain=1.0 if kernel == 1 else 2**0.5)  # the paper's code
    nn.init.zeros_(conv.bias)
    return spectral_norm(conv) if sn else conv


class UpBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.norm1, self.norm2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)
        self.conv1, self.conv2 = _conv(channels, channels), _conv(channels, channels)
        self.shortcut = _conv(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x)), scale_factor=2.0)
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2.0))


class DownBlock(nn.Module):
    """A residual block of D; ``first`` is the paper's "optimised" block on the image
    itself (no ReLU before its first conv, pool before its shortcut's conv)."""

    def __init__(self, in_channels: int, out_channels: int, *, down: bool, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1, self.conv2 = _conv(in_channels, out_channels, sn=True), _conv(out_channels, out_channels, sn=True)
        self.shortcut = _conv(in_channels, out_channels, 1, sn=True) if down or in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        skip = x
        if self.shortcut is not None:
            skip = self.shortcut(F.avg_pool2d(x, 2)) if self.first else self.shortcut(x)
            if self.down and not self.first:
                skip = F.avg_pool2d(skip, 2)
        return h + skip


class SNGANGenerator(Generator):
    def __init__(self, *, latent_dim: int = 128, channels: int = 1, image_size: int = 28, width: int = 64):
        super().__init__(latent_dim=latent_dim, num_classes=0, image_shape=(channels, image_size, image_size))
        self.start, doublings = doubling_plan(image_size)
        self.width = width
        self.project = nn.Linear(latent_dim, width * self.start**2)
        nn.init.xavier_uniform_(self.project.weight)
        self.blocks = nn.Sequential(*(UpBlock(width) for _ in range(doublings)))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), _conv(width, channels, narrow=True), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.project(z).view(z.shape[0], self.width, self.start, self.start)
        return self.out(self.blocks(x))


class SNGANDiscriminator(Discriminator):
    def __init__(self, *, channels: int = 1, image_size: int = 28, width: int = 64):
        super().__init__(num_classes=0, image_shape=(channels, image_size, image_size))
        doubling_plan(image_size)  # the same sizes as G's (28, 32, 64, ...)
        self.blocks = nn.Sequential(
            DownBlock(channels, width, down=True, first=True),
            DownBlock(width, width, down=True),
            DownBlock(width, width, down=False),
            DownBlock(width, width, down=False),
        )
        head = nn.Linear(width, 1)
        nn.init.xavier_uniform_(head.weight)
        nn.init.zeros_(head.bias)
        self.source_head = spectral_norm(head)

    def forward(self, images: torch.Tensor) -> DiscriminatorOutput:
        features = F.relu(self.blocks(images)).sum(dim=(2, 3))  # global sum pooling
        return DiscriminatorOutput(self.source_head(features).squeeze(1), features=features)


def build(*, latent_dim: int = 128, g_width: int = 64, d_width: int = 64, channels: int = 1,
          image_size: int = 28) -> tuple[SNGANGenerator, SNGANDiscriminator]:
    return (SNGANGenerator(latent_dim=latent_dim, channels=channels, image_size=image_size, width=g_width),
            SNGANDiscriminator(channels=channels, image_size=image_size, width=d_width))


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="sngan",
        build=build,
        loss="hinge",
        description="Spectrally normalised GAN (Miyato et al. 2018), ResNet, hinge loss, unconditional",
        conditional=False,
        # the paper's ResNet optimiser: Adam(2e-4, beta1 0, beta2 0.9), 5 D updates per G update
        train_defaults={"lr": 2e-4, "betas": [0.0, 0.9], "n_critic": 5},
        # On Fashion-MNIST, G at 64 maps collapses onto footwear, and with five D updates per
        # step one seed in two drops it; twice the maps and SAGAN's one-update TTUR keep
        # every class (docs/models/sngan.md).
        tunings={"fashion-mnist": {"g_width": 128, "n_critic": 1, "lr_g": 1e-4, "lr_d": 4e-4}},
    ))
