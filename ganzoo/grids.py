"""Image grids, PNG files and PIL images from tensors, without torchvision.

Importing torchvision costs a small CPU about 1.5 s (it pulls in ``torch._dynamo``),
nearly as much as torch itself, in every command that saves a picture. These few
functions lay grids out exactly as ``torchvision.utils.make_grid`` does and write the same
PNG bytes as ``save_image`` (``tests/test_grids.py`` compares them), so ganzoo imports
torchvision only to download or decode data sets it does not read itself.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image


def tile(images: torch.Tensor, *, nrow: int = 8, padding: int = 2, pad_value: float = 0.0) -> torch.Tensor:
    """A grid (C, H', W') of ``images`` (N, C, H, W), ``nrow`` to a row, ``padding`` pixels
    of ``pad_value`` around each; grey images become three channels, and a single image is
    returned without padding (make_grid's layout). Keeps the dtype."""
    if images.dim() == 2:
        images = images.unsqueeze(0)
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.size(1) == 1:
        images = torch.cat((images, images, images), 1)
    if images.size(0) == 1:
        return images.squeeze(0)
    n, channels, height, width = images.shape
    columns = min(nrow, n)
    rows = math.ceil(n / columns)
    cell_h, cell_w = height + padding, width + padding
    grid = images.new_full((channels, cell_h * rows + padding, cell_w * columns + padding), pad_value)
    for k in range(n):
        y, x = divmod(k, columns)
        top, left = y * cell_h + padding, x * cell_w + padding
        grid[:, top:top + height, left:left + width].copy_(images[k])
    return grid


def to_uint8(picture: torch.Tensor) -> torch.Tensor:
    """A float picture in [0, 1] as uint8, rounded as save_image rounds; uint8 unchanged."""
    if picture.dtype == torch.uint8:
        return picture
    return picture.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def to_pil(picture: torch.Tensor) -> Any:
    """A PIL image of one picture (C, H, W) or (H, W), uint8 or float in [0, 1]: mode L
    for one channel, RGB for three."""
    array = to_uint8(picture.detach().cpu())
    if array.dim() == 3 and array.size(0) == 1:
        array = array[0]
    if array.dim() == 3:
        array = array.permute(1, 2, 0)
    return Image.fromarray(array.contiguous().numpy())


def save_picture(picture: torch.Tensor, path: str | Path, *, format: str | None = None) -> None:
    """One picture (C, H, W) as an image file in its own mode: grey stays grey (L), where a
    grid of it would be RGB."""
    to_pil(picture).save(path, format=format)


def save_png(images: torch.Tensor, path: str | Path, *, nrow: int = 8, padding: int = 2, pad_value: float = 0.0,
             format: str | None = None) -> None:
    """``images`` (N, C, H, W, or one picture) as one grid picture file, as save_image
    writes it (RGB; float images in [0, 1] or uint8)."""
    grid = tile(images.detach().cpu(), nrow=nrow, padding=padding, pad_value=pad_value)
    to_pil(grid).save(path, format=format)
