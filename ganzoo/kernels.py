"""The arithmetic behind the fast forms of two layers of ``blocks.py``, which plugin
authors use as plain layers and never call directly:

* ``UpsampleConv2d`` fused: nearest 2x upsampling and a 3x3 convolution computed on the
  input grid, its kernel folded per axis (``fold_axis``: one transposed convolution;
  ``phase_taps``: four phase convolutions interleaved; ``winograd_taps``: Winograd's
  nine products per input pixel, summed shifted);
* ``NarrowConv2d`` split: a convolution of few output channels as a 1x1 convolution to
  one map per output channel and kernel tap, summed shifted (``shift_sum``).

Each data movement is an autograd function whose backward is its adjoint's, so first and
higher derivatives (R1, the gradient penalty) are exact. docs/performance.md has the
measurements.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def phase_taps(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """Nearest 2x upsampling then a 3x3 convolution (padding 1), seen from the input grid
    along one axis: output row 2i (phase 0) reads input rows i-1, i with the kernel rows
    w0, w1 + w2; output row 2i+1 (phase 1) reads rows i, i+1 with w0 + w1, w2. Returns
    the two 2-tap kernels stacked in a new leading dimension. (Plain adds: autocast keeps
    them in the weight's precision.)"""
    w0, w1, w2 = weight.unbind(dim)
    return torch.stack([torch.stack([w0, w1 + w2], dim), torch.stack([w0 + w1, w2], dim)])


def fold_axis(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """The same two phases as one 4-tap kernel of a stride-2 transposed convolution
    (padding 1): [w2, w1 + w2, w0 + w1, w0], both phases' taps interleaved and reversed."""
    w0, w1, w2 = weight.unbind(dim)
    return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)


def prefers_channels_last(tensor: torch.Tensor) -> bool:
    return tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous()


def phase_grid(image: torch.Tensor) -> torch.Tensor:
    """``[N, C, 2H, 2W]`` seen as ``[N, C, H, 2, W, 2]``: pixel (2i+a, 2j+b) at [.., i, a, j, b]."""
    return image.unflatten(3, (-1, 2)).unflatten(2, (-1, 2))


def new_map(like: torch.Tensor, n: int, c: int, h: int, w: int) -> torch.Tensor:
    """An uninitialised ``[N, C, H, W]`` tensor in ``like``'s memory format."""
    if prefers_channels_last(like):
        return like.new_empty(n, h, w, c).permute(0, 3, 1, 2)
    return like.new_empty(n, c, h, w)


def interleave(phases: torch.Tensor) -> torch.Tensor:
    n, _, h, w = phases.shape
    h, w = h - 1, w - 1
    source = phases.unflatten(1, (2, 2, -1))  # [N, a, b, C, H+1, W+1]
    c = source.shape[3]
    image = new_map(phases, n, c, 2 * h, 2 * w)
    grid = phase_grid(image)
    for a in (0, 1):
        for b in (0, 1):
            grid[:, :, :, a, :, b] = source[:, a, b, :, a : a + h, b : b + w]
    return image


def gather(image: torch.Tensor) -> torch.Tensor:
    n, c, h, w = image.shape
    h, w = h // 2, w // 2
    phases = new_map(image, n, 4 * c, h + 1, w + 1)
    target, grid = phases.unflatten(1, (2, 2, -1)), phase_grid(image)
    for a in (0, 1):
        for b in (0, 1):
            target[:, a, b, :, a : a + h, b : b + w] = grid[:, :, :, a, :, b]
            # the row and the column this phase never reads
            target[:, a, b, :, h * (1 - a)].zero_()
            target[:, a, b, :, :, w * (1 - b)].zero_()
    return phases


def adjoint_pair(linear_map: Any, adjoint: Any) -> tuple[type, type]:
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
InterleavePhases, GatherPhases = adjoint_pair(interleave, gather)


def winograd_taps(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """Along one axis the two phases need four products per input pixel, [w0, w1 + w2] and
    [w0 + w1, w2] on rows (i-1, i) and (i, i+1); three do: with s = w0 + w1 + w2,
    y[2i] = x[i] s + x[i] (-w0) - x[i-1] (-w0) and y[2i+1] = x[i] s + x[i] (-w2) -
    x[i+1] (-w2). Returns the taps [-w0, s, -w2] along ``dim`` (negated, so that neither
    the sums nor their adjoint need a negation pass)."""
    w0, w1, w2 = weight.unbind(dim)
    return torch.stack([-w0, w0 + w1 + w2, -w2], dim)


def winograd_sums(products: torch.Tensor) -> torch.Tensor:
    """``[N, H, W, 3, 3, C]`` (tap (p, q) of ``winograd_taps`` applied to input pixel (i, j))
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


def winograd_spread(grad: torch.Tensor) -> torch.Tensor:
    """The adjoint of ``winograd_sums``: the image's gradient to the products' gradient
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


WinogradSums, WinogradSpread = adjoint_pair(winograd_sums, winograd_spread)


def shift_sum(maps: torch.Tensor, k: int) -> torch.Tensor:
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


def shift_spread(grad: torch.Tensor, k: int, channels_last: bool) -> torch.Tensor:
    """The adjoint of ``shift_sum``: tap (a, b)'s block is ``grad`` moved back, in the
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


class ShiftSum(torch.autograd.Function):
    """``shift_sum``; its backward is ``ShiftSpread`` and vice versa, so higher derivatives work."""

    @staticmethod
    def forward(ctx: Any, maps: torch.Tensor, k: int) -> torch.Tensor:
        ctx.k, ctx.channels_last = k, prefers_channels_last(maps)
        return shift_sum(maps, k)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return ShiftSpread.apply(grad, ctx.k, ctx.channels_last), None


class ShiftSpread(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, grad: torch.Tensor, k: int, channels_last: bool) -> torch.Tensor:
        ctx.k = k
        return shift_spread(grad, k, channels_last)

    @staticmethod
    def backward(ctx: Any, maps_grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return ShiftSum.apply(maps_grad, ctx.k), None, None
