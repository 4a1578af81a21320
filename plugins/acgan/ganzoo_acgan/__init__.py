"""ACGAN (Odena et al. 2017) for ganzoo: the reference networks, generalised over image
size, channels, latent size and number of classes, and the combined source/class loss.

Fixed defects of the reference (see docs/models/acgan.md): both discriminator heads emit
logits (no Sigmoid, no Softmax); the loss applies BCE-with-logits and cross-entropy.
The reference's ``BatchNorm2d(C, 0.8)`` passes 0.8 as eps (its second positional
argument), not momentum: ganzoo's default is BatchNorm's usual 1e-5, which with an EMA of
G and G's learning rate doubled lifts the demo from 80% to 95% per-class accuracy;
``--set preset=reference`` trains the seed article's configuration exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import Discriminator, DiscriminatorOutput, Generator, ModelSpec, hookimpl
from ganzoo.blocks import NarrowConv2d, UpsampleConv2d, normal_init, require_labels


def _check_image_size(image_size: int) -> None:
    if image_size % 4 or image_size < 8:
        raise ValueError(f"acgan needs an image size that is a multiple of 4 and at least 8, got {image_size}")


class ACGANGenerator(Generator):
    """noise * embedding(label) -> Linear -> 128 x s/4 x s/4 -> two upsampling conv blocks -> tanh."""

    def __init__(self, *, latent_dim: int = 100, num_classes: int = 10, channels: int = 1, image_size: int = 28,
                 bn_eps: float = 1e-5):
        super().__init__(latent_dim=latent_dim, num_classes=num_classes, image_shape=(channels, image_size, image_size))
        _check_image_size(image_size)
        self.init_size = image_size // 4
        self.label_embedding = nn.Embedding(num_classes, latent_dim)
        self.project = nn.Linear(latent_dim, 128 * self.init_size**2)
        # The reference's Upsample(2) + Conv2d(3x3) pairs; each UpsampleConv2d upsamples
        # itself (fused on the fast path), and nn.Identity keeps the reference's layer
        # numbering, so state dicts and checkpoints are those of the plain layers.
        self.blocks = nn.Sequential(
            nn.BatchNorm2d(128),
            nn.Identity(),
            UpsampleConv2d(128, 128),
            nn.BatchNorm2d(128, eps=bn_eps),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Identity(),
            UpsampleConv2d(128, 64),
            nn.BatchNorm2d(64, eps=bn_eps),
            nn.LeakyReLU(0.2, inplace=True),
            NarrowConv2d(64, channels, 3),  # nn.Conv2d(64, channels, 3, padding=1); split in fp32 on the CPU
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.label_embedding(require_labels(labels, "ACGAN's generator")) * z
        x = self.project(x).view(x.shape[0], 128, self.init_size, self.init_size)
        return self.blocks(x)


def _down_block(in_channels: int, out_channels: int, bn_eps: float, batch_norm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Dropout2d(0.25),
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels, eps=bn_eps))
    return layers


class ACGANDiscriminator(Discriminator):
    """Four stride-2 conv blocks, then a source head (1 logit) and a class head (K logits)."""

    def __init__(self, *, num_classes: int = 10, channels: int = 1, image_size: int = 28, bn_eps: float = 1e-5):
        super().__init__(num_classes=num_classes, image_shape=(channels, image_size, image_size))
        _check_image_size(image_size)
        self.features = nn.Sequential(
            *_down_block(channels, 16, bn_eps, batch_norm=False),
            *_down_block(16, 32, bn_eps),
            *_down_block(32, 64, bn_eps),
            *_down_block(64, 128, bn_eps),
        )
        side = image_size
        for _ in range(4):
            side = (side - 1) // 2 + 1  # a 3x3 stride-2 conv with padding 1
        self.source_head = nn.Linear(128 * side * side, 1)
        self.class_head = nn.Linear(128 * side * side, num_classes)

    def forward(self, images: torch.Tensor) -> DiscriminatorOutput:
        features = self.features(images).flatten(1)
        return DiscriminatorOutput(self.source_head(features).squeeze(1), self.class_head(features), features)


class ACGANLoss:
    """A source term (real/fake, BCE on logits) plus an auxiliary class term (cross-entropy
    on logits, the true label for real images and the conditioning label for generated
    ones), averaged as in the reference; ``aux_weight`` scales the class term."""

    def __init__(self, *, aux_weight: float = 1.0):
        self.aux_weight = aux_weight

    def _term(self, out: DiscriminatorOutput, is_real: bool, labels: torch.Tensor) -> torch.Tensor:
        target = torch.ones_like(out.source) if is_real else torch.zeros_like(out.source)
        source = F.binary_cross_entropy_with_logits(out.source, target)
        auxiliary = F.cross_entropy(out.classes, labels)
        return (source + self.aux_weight * auxiliary) / 2

    def discriminator_loss(self, real, fake, real_labels, fake_labels) -> torch.Tensor:
        return (self._term(real, True, real_labels) + self._term(fake, False, fake_labels)) / 2

    def generator_loss(self, fake, fake_labels) -> torch.Tensor:
        return self._term(fake, True, fake_labels)


def build(*, latent_dim: int = 100, num_classes: int = 10, channels: int = 1, image_size: int = 28,
          bn_eps: float = 1e-5, reference_init: bool = True) -> tuple[ACGANGenerator, ACGANDiscriminator]:
    generator = ACGANGenerator(latent_dim=latent_dim, num_classes=num_classes, channels=channels,
                               image_size=image_size, bn_eps=bn_eps)
    discriminator = ACGANDiscriminator(num_classes=num_classes, channels=channels, image_size=image_size, bn_eps=bn_eps)
    return reference_initialised(generator, discriminator) if reference_init else (generator, discriminator)


def reference_initialised(*networks: nn.Module) -> tuple[nn.Module, ...]:
    """The reference's initialisation: conv weights N(0, 0.02) (biases kept), BatchNorm
    N(1, 0.02) and 0; linear and embedding layers keep PyTorch's defaults."""
    for network in networks:
        network.apply(lambda m: normal_init(m, layers=(nn.Conv2d,), zero_bias=False))
    return networks


# What ganzoo's acgan changes from the seed article, each measured on mnist-5k at the demo
# budget (docs/models/acgan.md): BatchNorm eps 1e-5 (build's default) instead of 0.8, an EMA
# of G's weights, and a faster G (4x D's rate on MNIST, where three seeds measured it; 2x
# elsewhere). The preset "reference" undoes all three.
TRAIN_DEFAULTS = {"ema": 0.99, "lr_g": 4e-4}
TUNINGS = {"mnist": {"epochs": 100, "lr_g": 8e-4},  # the reference's budget on MNIST
           "fashion-mnist": {"epochs": 50}}
REFERENCE = {"bn_eps": 0.8, "ema": 0.0, "lr_g": None}


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="acgan",
        build=build,
        loss="acgan",
        description="Auxiliary-classifier GAN (Odena et al. 2017), the reference networks with logit heads",
        conditional=True,
        tunings={recipe: dict(settings) for recipe, settings in TUNINGS.items()},
        train_defaults=dict(TRAIN_DEFAULTS),
        presets={"reference": dict(REFERENCE)},
    ))


@hookimpl
def register_losses(register):
    register("acgan", ACGANLoss)
