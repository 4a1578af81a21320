"""Building blocks that model plugins share: the doubling plan of a convolutional
generator, weight initialisation, conditional BatchNorm, the projection term of a
conditional discriminator, spectral norm, the upsampling convolution (fused on the input
grid where the run's speed plan says so) and the convolution of few output channels
(split where it says so). The arithmetic of the fused and split forms is ``kernels.py``'s."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .kernels import (InterleavePhases, ShiftSum, WinogradSums, fold_axis, phase_taps, prefers_channels_last,
                      winograd_taps)

__all__ = [
    "ConditionalBatchNorm2d",
    "NarrowConv2d",
    "UpsampleConv2d",
    "doubling_plan",
    "normal_init",
    "projection",
    "require_labels",
    "set_fused_upsample",
    "set_split_narrow",
    "spectral_norm",
]


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


class UpsampleConv2d(nn.Conv2d):
    """``Conv2d(in, out, 3, padding=1)`` applied to the input upsampled 2x (nearest).

    The parameters and the function are those of ``nn.Upsample(scale_factor=2)`` followed
    by the ``nn.Conv2d``, and so is the state dict. With ``fused`` set (the trainer sets
    it from the recipe's ``fused_upsample``) the same function runs on the input grid
    itself, with the 3x3 kernel folded: 16 instead of 36 multiply-adds per input pixel
    and no upsampled copy of the input. Results agree to float rounding. Two fused forms,
    picked by the weights' memory format (the trainer converts them with channels-last):

    * ``"phases"`` (channels-last): each of the four output phases (even/odd row,
      even/odd column) is a 2x2 convolution of the input; one convolution with 4x the
      output channels computes all four, which are then interleaved into the image.
      oneDNN runs this fastest in bf16 on AMX CPUs.
    * ``"winograd"`` (channels-last with ``winograd`` set; the trainer sets it for fp32 on
      the CPU): per axis three products per input pixel instead of four
      (``kernels.winograd_taps``), so 9 instead of 16 multiply-adds: one matrix product of the
      input's pixels with the tap weights (a 1x1 convolution to ``9 * out`` channels), then
      sums of shifted products (``kernels.winograd_sums``). Fastest in fp32 on AVX2 and AVX-512 CPUs.
    * ``"transposed"`` (otherwise): one stride-2 transposed convolution with a 4x4 kernel,
      the fastest fp32 NCHW form.
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, fused: bool = False,
                 winograd: bool = False, **factory):
        super().__init__(in_channels, out_channels, 3, stride=1, padding=1, bias=bias, **factory)
        self.fused = fused
        self.winograd = winograd

    @property
    def form(self) -> str:
        """``"plain"``, ``"phases"``, ``"winograd"`` or ``"transposed"``: how ``forward`` computes."""
        if not self.fused:
            return "plain"
        if prefers_channels_last(self.weight):
            return "winograd" if self.winograd else "phases"
        return "transposed"

    def folded_weight(self) -> torch.Tensor:
        """The 4x4 transposed-convolution kernel, shaped ``(in, out, 4, 4)``."""
        return fold_axis(fold_axis(self.weight, 2), 3).transpose(0, 1)

    def phase_weight(self) -> torch.Tensor:
        """The four 2x2 phase kernels as one ``(4 * out, in, 2, 2)`` weight, phase-major."""
        kernels = phase_taps(phase_taps(self.weight, 2), 4)  # [b, a, out, in, 2, 2]
        return kernels.transpose(0, 1).flatten(0, 2)

    def winograd_weight(self) -> torch.Tensor:
        """The nine taps of ``kernels.winograd_taps`` per axis as one ``(9 * out, in, 1, 1)`` kernel,
        tap-major: output channel ``(3 p + q) * out + o`` is tap (p, q) of channel o."""
        taps = winograd_taps(winograd_taps(self.weight, 2), 3)  # [out, in, 3, 3]
        return taps.permute(2, 3, 0, 1).reshape(9 * self.out_channels, self.in_channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        form = self.form
        if form == "winograd":
            # The matrix product of the pixels (channels-last rows) with the taps, as a 1x1
            # convolution: oneDNN picks its kernels by the CPU's instruction sets, whereas
            # MKL's sgemm has run SSE code on AMD CPUs with AVX2 (docs/performance.md, "AVX2 only").
            n, _, h, w = x.shape
            products = F.conv2d(x.contiguous(memory_format=torch.channels_last), self.winograd_weight())
            products = products.permute(0, 2, 3, 1).view(n, h, w, 3, 3, self.out_channels)
            image = WinogradSums.apply(products)
            return image if self.bias is None else image + self.bias.to(image.dtype).view(1, -1, 1, 1)
        if form == "phases":
            bias = None if self.bias is None else self.bias.repeat(4)
            phases = F.conv2d(x.contiguous(memory_format=torch.channels_last), self.phase_weight(), bias, padding=1)
            return InterleavePhases.apply(phases)
        if form == "transposed":
            return F.conv_transpose2d(x, self.folded_weight(), self.bias, stride=2, padding=1)
        return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", upsample=2x nearest, fused={self.fused}"


def set_fused_upsample(module: nn.Module, fused: bool, *, winograd: bool = False) -> None:
    """Switch every ``UpsampleConv2d`` inside ``module`` to the fused or the plain form
    (fused with channels-last: the Winograd form with ``winograd``, else the phase form)."""
    for layer in module.modules():
        if isinstance(layer, UpsampleConv2d):
            layer.fused, layer.winograd = fused, winograd


class NarrowConv2d(nn.Conv2d):
    """``Conv2d(in, out, k, padding=k // 2)`` (stride 1, odd k) for layers with few output
    channels, such as a generator's last, to-image convolution.

    Parameters, state dict and function are those of the ``nn.Conv2d``. With ``split`` set
    (the trainer sets it from the recipe's ``narrow_conv``) it runs as a 1x1 convolution to
    ``out * k * k`` maps, one per output channel and kernel tap, whose shifted copies are
    then summed: the same multiply-adds as one wide layer instead of a k x k convolution
    with a single output channel, which oneDNN's CPU kernels run several times slower
    (docs/performance.md). Results agree to float rounding.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *, bias: bool = True,
                 split: bool = False, **factory):
        if kernel_size % 2 == 0:
            raise ValueError(f"NarrowConv2d needs an odd kernel size, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias, **factory)
        self.split = split

    def tap_weight(self) -> torch.Tensor:
        """The kernel as a 1x1 convolution's ``(k * k * out, in, 1, 1)`` weight, tap-major."""
        return self.weight.permute(2, 3, 0, 1).flatten(0, 2)[..., None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.split:
            return super().forward(x)
        out = ShiftSum.apply(F.conv2d(x, self.tap_weight()), self.kernel_size[0])
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", split={self.split}"


def set_split_narrow(module: nn.Module, split: bool) -> None:
    """Switch every ``NarrowConv2d`` inside ``module`` to the split or the plain form."""
    for layer in module.modules():
        if isinstance(layer, NarrowConv2d):
            layer.split = split


def normal_init(
    module: nn.Module,
    *,
    layers: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear),
    std: float = 0.02,
    zero_bias: bool = True,
) -> None:
    """DCGAN's initialisation, for ``module.apply``: weights of ``layers`` from N(0, std)
    (their biases zero with ``zero_bias``), BatchNorm weights from N(1, std), biases 0."""
    if isinstance(module, layers):
        nn.init.normal_(module.weight, 0.0, std)
        if zero_bias and getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.affine:
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine part; the scale and shift are looked up per class
    (starting as 1 and 0, so it begins as plain BatchNorm)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.scale = nn.Embedding(num_classes, channels)
        self.shift = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scale = self.scale(labels)[:, :, None, None]
        shift = self.shift(labels)[:, :, None, None]
        return self.norm(x) * scale + shift


def require_labels(labels: torch.Tensor | None, who: str) -> torch.Tensor:
    """``labels``, or a clear error when a conditional network was called without them."""
    if labels is None:
        raise ValueError(f"{who} is conditional: call it with the class labels")
    return labels


def projection(embed: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The projection discriminator's class term (Miyato & Koyama 2018): <embed(y), h>,
    one value per sample, added to the unconditional logit."""
    return (embed(labels) * features).sum(dim=1)
