"""Building blocks that model plugins share: the doubling plan of a convolutional
generator, weight initialisation, conditional BatchNorm, the projection term of a
conditional discriminator, spectral norm, the fused upsampling convolution and the split
convolution of few output channels."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

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


def _phase_taps(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """Nearest 2x upsampling then a 3x3 convolution (padding 1), seen from the input grid
    along one axis: output row 2i (phase 0) reads input rows i-1, i with the kernel rows
    w0, w1 + w2; output row 2i+1 (phase 1) reads rows i, i+1 with w0 + w1, w2. Returns
    the two 2-tap kernels stacked in a new leading dimension. (Plain adds: autocast keeps
    them in the weight's precision.)"""
    w0, w1, w2 = weight.unbind(dim)
    return torch.stack([torch.stack([w0, w1 + w2], dim), torch.stack([w0 + w1, w2], dim)])


def _fold_axis(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """The same two phases as one 4-tap kernel of a stride-2 transposed convolution
    (padding 1): [w2, w1 + w2, w0 + w1, w0], both phases' taps interleaved and reversed."""
    w0, w1, w2 = weight.unbind(dim)
    return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)


def _prefers_channels_last(tensor: torch.Tensor) -> bool:
    return tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous()


def _phase_grid(image: torch.Tensor) -> torch.Tensor:
    """``[N, C, 2H, 2W]`` seen as ``[N, C, H, 2, W, 2]``: pixel (2i+a, 2j+b) at [.., i, a, j, b]."""
    return image.unflatten(3, (-1, 2)).unflatten(2, (-1, 2))


def _new_map(like: torch.Tensor, n: int, c: int, h: int, w: int) -> torch.Tensor:
    """An uninitialised ``[N, C, H, W]`` tensor in ``like``'s memory format."""
    if _prefers_channels_last(like):
        return like.new_empty(n, h, w, c).permute(0, 3, 1, 2)
    return like.new_empty(n, c, h, w)


def _interleave(phases: torch.Tensor) -> torch.Tensor:
    n, _, h, w = phases.shape
    h, w = h - 1, w - 1
    source = phases.unflatten(1, (2, 2, -1))  # [N, a, b, C, H+1, W+1]
    c = source.shape[3]
    image = _new_map(phases, n, c, 2 * h, 2 * w)
    grid = _phase_grid(image)
    for a in (0, 1):
        for b in (0, 1):
            grid[:, :, :, a, :, b] = source[:, a, b, :, a : a + h, b : b + w]
    return image


def _gather(image: torch.Tensor) -> torch.Tensor:
    n, c, h, w = image.shape
    h, w = h // 2, w // 2
    phases = _new_map(image, n, 4 * c, h + 1, w + 1)
    target, grid = phases.unflatten(1, (2, 2, -1)), _phase_grid(image)
    for a in (0, 1):
        for b in (0, 1):
            target[:, a, b, :, a : a + h, b : b + w] = grid[:, :, :, a, :, b]
            # the row and the column this phase never reads
            target[:, a, b, :, h * (1 - a)].zero_()
            target[:, a, b, :, :, w * (1 - b)].zero_()
    return phases


def _adjoint_pair(linear_map: Any, adjoint: Any) -> tuple[type, type]:
    """Two autograd functions for a linear map of one tensor and its adjoint, each the
    other's backward, so first and higher derivatives are exact."""

    class Map(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            return linear_map(x)

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            return Adjoint.apply(grad)

    class Adjoint(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            return adjoint(x)

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            return Map.apply(grad)

    Map.__name__, Adjoint.__name__ = linear_map.__name__, adjoint.__name__
    return Map, Adjoint


# ``[N, 4C, H+1, W+1]``, the four phase maps (a, b) = (0, 0), (0, 1), (1, 0), (1, 1) as
# channel groups, to the ``[N, C, 2H, 2W]`` image whose pixel (2i+a, 2j+b) is phase (a, b)
# at (i+a, j+b); one copy per phase, in the input's memory format; and back.
_InterleavePhases, _GatherPhases = _adjoint_pair(_interleave, _gather)


def _winograd_taps(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """Along one axis the two phases need four products per input pixel, [w0, w1 + w2] and
    [w0 + w1, w2] on rows (i-1, i) and (i, i+1); three do: with s = w0 + w1 + w2,
    y[2i] = x[i] s + x[i] (-w0) - x[i-1] (-w0) and y[2i+1] = x[i] s + x[i] (-w2) -
    x[i+1] (-w2). Returns the taps [-w0, s, -w2] along ``dim`` (negated, so that neither
    the sums nor their adjoint need a negation pass)."""
    w0, w1, w2 = weight.unbind(dim)
    return torch.stack([-w0, w0 + w1 + w2, -w2], dim)


def _winograd_sums(products: torch.Tensor) -> torch.Tensor:
    """``[N, H, W, 3, 3, C]`` (tap (p, q) of ``_winograd_taps`` applied to input pixel (i, j))
    to the ``[N, C, 2H, 2W]`` image, channels-last: per axis, phase 0 is
    P0 + P- - P-(one row up) and phase 1 is P0 + P+ - P+(one row down)."""
    n, h, w, _, _, c = products.shape
    rows = products.new_empty(n, h, 2, w, 3, c)  # the rows' phase done, the columns' not
    torch.add(products[:, :, :, 1], products[:, :, :, 0], out=rows[:, :, 0])
    rows[:, 1:, 0] -= products[:, :-1, :, 0]
    torch.add(products[:, :, :, 1], products[:, :, :, 2], out=rows[:, :, 1])
    rows[:, :-1, 1] -= products[:, 1:, :, 2]
    image = products.new_empty(n, h, 2, w, 2, c)
    torch.add(rows[..., 1, :], rows[..., 0, :], out=image[..., 0, :])
    image[:, :, :, 1:, 0] -= rows[:, :, :, :-1, 0]
    torch.add(rows[..., 1, :], rows[..., 2, :], out=image[..., 1, :])
    image[:, :, :, :-1, 1] -= rows[:, :, :, 1:, 2]
    return image.view(n, 2 * h, 2 * w, c).permute(0, 3, 1, 2)


def _winograd_spread(grad: torch.Tensor) -> torch.Tensor:
    """The adjoint of ``_winograd_sums``: the image's gradient to the products' gradient
    (per axis: P0 gets g0 + g1, P- gets g0 - g0(one row down), P+ gets g1 - g1(one row up))."""
    n, c, h2, w2 = grad.shape
    h, w = h2 // 2, w2 // 2
    image = grad.permute(0, 2, 3, 1).contiguous().view(n, h, 2, w, 2, c)
    rows = grad.new_empty(n, h, 2, w, 3, c)
    torch.add(image[..., 0, :], image[..., 1, :], out=rows[..., 1, :])
    torch.sub(image[:, :, :, :-1, 0], image[:, :, :, 1:, 0], out=rows[:, :, :, :-1, 0])
    rows[:, :, :, -1, 0] = image[:, :, :, -1, 0]
    torch.sub(image[:, :, :, 1:, 1], image[:, :, :, :-1, 1], out=rows[:, :, :, 1:, 2])
    rows[:, :, :, 0, 2] = image[:, :, :, 0, 1]
    products = grad.new_empty(n, h, w, 3, 3, c)
    torch.add(rows[:, :, 0], rows[:, :, 1], out=products[:, :, :, 1])
    torch.sub(rows[:, :-1, 0], rows[:, 1:, 0], out=products[:, :-1, :, 0])
    products[:, -1, :, 0] = rows[:, -1, 0]
    torch.sub(rows[:, 1:, 1], rows[:, :-1, 1], out=products[:, 1:, :, 2])
    products[:, 0, :, 2] = rows[:, 0, 1]
    return products


_WinogradSums, _WinogradSpread = _adjoint_pair(_winograd_sums, _winograd_spread)


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
      (``_winograd_taps``), so 9 instead of 16 multiply-adds: one matrix product of the
      input's pixels with the tap weights (a 1x1 convolution to ``9 * out`` channels), then
      sums of shifted products (``_winograd_sums``). Fastest in fp32 on AVX2 and AVX-512 CPUs.
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
        if _prefers_channels_last(self.weight):
            return "winograd" if self.winograd else "phases"
        return "transposed"

    def folded_weight(self) -> torch.Tensor:
        """The 4x4 transposed-convolution kernel, shaped ``(in, out, 4, 4)``."""
        return _fold_axis(_fold_axis(self.weight, 2), 3).transpose(0, 1)

    def phase_weight(self) -> torch.Tensor:
        """The four 2x2 phase kernels as one ``(4 * out, in, 2, 2)`` weight, phase-major."""
        kernels = _phase_taps(_phase_taps(self.weight, 2), 4)  # [b, a, out, in, 2, 2]
        return kernels.transpose(0, 1).flatten(0, 2)

    def winograd_weight(self) -> torch.Tensor:
        """The nine taps of ``_winograd_taps`` per axis as one ``(9 * out, in, 1, 1)`` kernel,
        tap-major: output channel ``(3 p + q) * out + o`` is tap (p, q) of channel o."""
        taps = _winograd_taps(_winograd_taps(self.weight, 2), 3)  # [out, in, 3, 3]
        return taps.permute(2, 3, 0, 1).reshape(9 * self.out_channels, self.in_channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        form = self.form
        if form == "winograd":
            # The matrix product of the pixels (channels-last rows) with the taps, as a 1x1
            # convolution: oneDNN picks its kernels by the CPU's instruction sets, whereas
            # MKL's sgemm has run SSE code on AMD CPUs with AVX2 (2.2x slower per layer here).
            n, _, h, w = x.shape
            products = F.conv2d(x.contiguous(memory_format=torch.channels_last), self.winograd_weight())
            products = products.permute(0, 2, 3, 1).view(n, h, w, 3, 3, self.out_channels)
            image = _WinogradSums.apply(products)
            return image if self.bias is None else image + self.bias.to(image.dtype).view(1, -1, 1, 1)
        if form == "phases":
            bias = None if self.bias is None else self.bias.repeat(4)
            phases = F.conv2d(x.contiguous(memory_format=torch.channels_last), self.phase_weight(), bias, padding=1)
            return _InterleavePhases.apply(phases)
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


def _shift_sum(maps: torch.Tensor, k: int) -> torch.Tensor:
    """``[N, k*k*C, H, W]`` (block ``a*k + b`` holds tap (a, b) of every output channel) to
    ``[N, C, H, W]``: the sum over the taps of map (a, b) moved by (k//2 - a, k//2 - b),
    zeros shifted in."""
    _, _, h, w = maps.shape
    p = k // 2
    taps = F.pad(maps, (p, p, p, p)).unflatten(1, (k * k, -1))
    out = taps[:, 0, :, :h, :w].clone(memory_format=torch.preserve_format)
    for t in range(1, k * k):
        a, b = divmod(t, k)
        out += taps[:, t, :, a : a + h, b : b + w]
    return out


def _shift_spread(grad: torch.Tensor, k: int, channels_last: bool) -> torch.Tensor:
    """The adjoint of ``_shift_sum``: tap (a, b)'s block is ``grad`` moved back, in the
    maps' memory format."""
    n, c, h, w = grad.shape
    p = k // 2
    padded = F.pad(grad, (p, p, p, p))
    if channels_last:
        maps = grad.new_empty(n, h, w, k * k * c).permute(0, 3, 1, 2)
    else:
        maps = grad.new_empty(n, k * k * c, h, w)
    taps = maps.unflatten(1, (k * k, -1))
    for t in range(k * k):
        a, b = divmod(t, k)
        taps[:, t] = padded[:, :, 2 * p - a : 2 * p - a + h, 2 * p - b : 2 * p - b + w]
    return maps


class _ShiftSum(torch.autograd.Function):
    """``_shift_sum``; its backward is ``_ShiftSpread`` and vice versa, so higher derivatives work."""

    @staticmethod
    def forward(ctx: Any, maps: torch.Tensor, k: int) -> torch.Tensor:
        ctx.k, ctx.channels_last = k, _prefers_channels_last(maps)
        return _shift_sum(maps, k)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _ShiftSpread.apply(grad, ctx.k, ctx.channels_last), None


class _ShiftSpread(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, grad: torch.Tensor, k: int, channels_last: bool) -> torch.Tensor:
        ctx.k = k
        return _shift_spread(grad, k, channels_last)

    @staticmethod
    def backward(ctx: Any, maps_grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return _ShiftSum.apply(maps_grad, ctx.k), None, None


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
        out = _ShiftSum.apply(F.conv2d(x, self.tap_weight()), self.kernel_size[0])
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
