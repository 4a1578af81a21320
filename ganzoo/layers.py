"""Small building blocks that several model plugins share."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def doubling_plan(image_size: int, *, smallest: int = 4, largest: int = 7) -> tuple[int, int]:
    """``(start_side, doublings)`` with ``start_side * 2**doublings == image_size``.

    Generators start from a ``start_side`` x ``start_side`` map (between ``smallest``
    and ``largest`` pixels) and double it; discriminators halve back down to it:
    28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4).
    """
    side, doublings = int(image_size), 0
    while side > largest and side % 2 == 0:
        side //= 2
        doublings += 1
    if doublings == 0 or not smallest <= side <= largest:
        raise ValueError(
            f"image size {image_size} is not a {smallest}..{largest}-pixel square doubled at least once "
            "(e.g. 28, 32, 64)"
        )
    return side, doublings


def _fold_axis(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """Nearest 2x upsampling then a 3x3 convolution (padding 1), seen from the input grid:
    output row 2i reads input rows i-1, i with kernel rows w0, w1 + w2, and output row
    2i+1 reads rows i, i+1 with w0 + w1, w2. A stride-2 transposed convolution computes
    both with the 4-row kernel [w2, w1 + w2, w0 + w1, w0]. (Plain adds: autocast keeps
    them in the weight's precision.)"""
    w0, w1, w2 = weight.unbind(dim)
    return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)


class UpsampleConv2d(nn.Conv2d):
    """``Conv2d(in, out, 3, padding=1)`` applied to the input upsampled 2x (nearest).

    The parameters and the function are those of ``nn.Upsample(scale_factor=2)`` followed
    by the ``nn.Conv2d``, and so is the state dict. With ``fused`` set (the trainer sets
    it from the recipe's ``fused_upsample``) the same function runs as one stride-2
    transposed convolution with the 3x3 kernel folded into a 4x4 one: 16 instead of 36
    multiply-adds per input pixel and no upsampled copy of the input. Results agree to
    float rounding.
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, fused: bool = False, **factory):
        super().__init__(in_channels, out_channels, 3, stride=1, padding=1, bias=bias, **factory)
        self.fused = fused

    def folded_weight(self) -> torch.Tensor:
        """The 4x4 transposed-convolution kernel, shaped ``(in, out, 4, 4)``."""
        return _fold_axis(_fold_axis(self.weight, 2), 3).transpose(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return F.conv_transpose2d(x, self.folded_weight(), self.bias, stride=2, padding=1)
        return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", upsample=2x nearest, fused={self.fused}"


def set_fused_upsample(module: nn.Module, fused: bool) -> None:
    """Switch every ``UpsampleConv2d`` inside ``module`` to the fused or the plain form."""
    for layer in module.modules():
        if isinstance(layer, UpsampleConv2d):
            layer.fused = fused
