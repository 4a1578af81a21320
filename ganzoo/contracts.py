"""The contracts a model plugin implements.

A model is a pair of plain ``nn.Module`` subclasses plus a loss object:

* :class:`Generator` maps noise ``z`` of shape ``(N, latent_dim)`` and, when the model is
  conditional, class labels ``(N,)`` to images ``(N, C, H, W)`` in ``[-1, 1]``.
* :class:`Discriminator` maps images to :class:`DiscriminatorOutput`: source (real/fake)
  logits ``(N,)``, for models with an auxiliary classifier class logits ``(N, K)``, and,
  for losses that work in D's feature space, D's embedding of each image ``(N, F)``.
  A discriminator that reads the class label itself (a projection discriminator) sets
  ``uses_labels = True`` and is called as ``D(images, labels)``.
* :class:`Loss` turns discriminator outputs into the D loss and the G loss. A loss may
  also define ``discriminator_penalty(critic, real, fake, real_labels, fake_labels)``, a
  regulariser of its own added to the D loss; ``critic(images, labels)`` calls the
  discriminator the right way for its kind.

A model whose training is not "D steps, then a G step" brings its own step as well
(:class:`ganzoo.TrainStep`, see ``ganzoo/train/step.py``).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import torch
from torch import nn


class DiscriminatorOutput(NamedTuple):
    """What a discriminator returns: logits, never probabilities, and optionally the
    features the heads read (for ReACGAN's data-to-data loss, TAC-GAN's twin classifier,
    feature matching)."""

    source: torch.Tensor
    classes: torch.Tensor | None = None
    features: torch.Tensor | None = None


class Generator(nn.Module):
    """Base class of generators: holds the facts the trainer and the sampler need.

    ``num_classes`` is 0 for an unconditional generator (it is then called with
    ``labels=None``). ``sample_latent`` draws the generator's input; a generator whose
    input is more than Gaussian noise (InfoGAN's codes) overrides it.
    """

    def __init__(self, *, latent_dim: int, num_classes: int, image_shape: tuple[int, int, int]):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)
        self.image_shape = tuple(int(d) for d in image_shape)

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def sample_latent(
        self, n: int, *, device: torch.device | str | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` draws of G's input (Gaussian noise of ``latent_dim``), from ``generator``."""
        return torch.randn(n, self.latent_dim, device=device, generator=generator)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1], (N, C, H, W), from ``z`` (and the class ``labels``, None when unconditional)."""
        raise NotImplementedError


class Discriminator(nn.Module):
    """Base class of discriminators (critics).

    ``num_classes`` is 0 for a discriminator that never sees labels. ``uses_labels``:
    whether ``forward`` takes the class labels as its second argument (conditional
    discriminators such as projection discriminators do).
    """

    uses_labels: bool = False

    def __init__(self, *, num_classes: int, image_shape: tuple[int, int, int]):
        super().__init__()
        self.num_classes = int(num_classes)
        self.image_shape = tuple(int(d) for d in image_shape)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> DiscriminatorOutput:
        """D's logits on ``images`` (and, with ``uses_labels``, their ``labels``)."""
        raise NotImplementedError

    def critic(self, images: torch.Tensor, labels: torch.Tensor | None) -> DiscriminatorOutput:
        """Call the discriminator with the labels only when it reads them."""
        return self(images, labels) if self.uses_labels else self(images)


@runtime_checkable
class Loss(Protocol):
    """Turns discriminator outputs into scalar losses (each a 0-d tensor)."""

    def discriminator_loss(
        self,
        real: DiscriminatorOutput,
        fake: DiscriminatorOutput,
        real_labels: torch.Tensor,
        fake_labels: torch.Tensor,
    ) -> torch.Tensor:
        """D's loss from its outputs (``.source``, and ``.classes`` for a class head) on a
        real and a fake batch; a 0-d tensor."""
        ...

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> torch.Tensor:
        """G's loss from D's outputs on the fakes; a 0-d tensor."""
        ...
