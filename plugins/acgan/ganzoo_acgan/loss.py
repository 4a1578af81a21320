"""The ACGAN loss: a source term (real/fake, BCE on logits) plus an auxiliary class term
(cross-entropy on logits), averaged as in the reference.

The class target is the true label for real images and the conditioning label for
generated ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganzoo import DiscriminatorOutput


class ACGANLoss:
    """``aux_weight`` scales the class term (1.0 = the reference's equal average)."""

    def __init__(self, aux_weight: float = 1.0):
        self.aux_weight = aux_weight

    def _term(self, out: DiscriminatorOutput, is_real: bool, labels: torch.Tensor) -> torch.Tensor:
        target = torch.ones_like(out.source) if is_real else torch.zeros_like(out.source)
        source = F.binary_cross_entropy_with_logits(out.source, target)
        auxiliary = F.cross_entropy(out.classes, labels)
        return (source + self.aux_weight * auxiliary) / 2

    def discriminator_loss(
        self,
        real: DiscriminatorOutput,
        fake: DiscriminatorOutput,
        real_labels: torch.Tensor,
        fake_labels: torch.Tensor,
    ) -> torch.Tensor:
        return (self._term(real, True, real_labels) + self._term(fake, False, fake_labels)) / 2

    def generator_loss(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> torch.Tensor:
        return self._term(fake, True, fake_labels)
