"""DiffAugment (Zhao et al. 2020): differentiable augmentations of everything D sees.

The same kind of random transformation is applied to real and to generated images (each
batch gets its own draws) before the discriminator, in the D step and in the G step, so
D cannot tell real from fake by the augmentation and G's gradient flows through it. The
three policies of the paper:

* ``color``: brightness (+U(-0.5, 0.5)), saturation (x U(0, 2) around the pixel's channel
  mean) and contrast (x U(0.5, 1.5) around the image's mean), per image;
* ``translation``: a shift of up to 1/8 of the side in each direction, zero filled;
* ``cutout``: a zeroed square of half the side at a random place.

Every random draw comes from torch's generator on the images' device (no host sync, so a
step with augmentation can be captured in a CUDA graph), whose state every checkpoint
keeps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .errors import UsageError

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _uniform(images: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return torch.rand(images.shape[0], 1, 1, 1, device=images.device, dtype=torch.float32) * (high - low) + low


def color(images: torch.Tensor) -> torch.Tensor:
    x = images + _uniform(images, -0.5, 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(images, 0.0, 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(images, 0.5, 1.5) + mean


def translation(images: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    n, _, h, w = images.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    device = images.device
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=device)
    rows = torch.arange(h, device=device).view(1, h, 1) + dy + sh  # indices into the padded image
    cols = torch.arange(w, device=device).view(1, 1, w) + dx + sw
    padded = F.pad(images, [sw, sw, sh, sh])
    batch = torch.arange(n, device=device).view(n, 1, 1)
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)  # advanced indexing puts C last


def cutout(images: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    n, _, h, w = images.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    device = images.device
    top = torch.randint(0, h, (n, 1, 1), device=device) - ch // 2
    left = torch.randint(0, w, (n, 1, 1), device=device) - cw // 2
    rows = torch.arange(h, device=device).view(1, h, 1)
    cols = torch.arange(w, device=device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return images * (~inside).unsqueeze(1).to(images.dtype)


POLICIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def parse_policy(text: str) -> tuple[str, ...]:
    """``"translation,cutout"`` -> ``("translation", "cutout")``; ``"none"`` -> ``()``."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if names in ((), ("none",)):
        return ()
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise UsageError(f"unknown augmentation {unknown[0]!r}; augment takes none or a comma-separated list of "
                         f"{', '.join(POLICIES)}")
    return names


def valid_policy(text: str) -> bool:
    try:
        parse_policy(text)
    except UsageError:
        return False
    return True


class DiffAugment:
    """``augment(images)``: the policies in the order given, each with fresh draws."""

    def __init__(self, policy: str | tuple[str, ...]):
        self.names = parse_policy(policy) if isinstance(policy, str) else tuple(policy)

    def __bool__(self) -> bool:
        return bool(self.names)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        for name in self.names:
            images = POLICIES[name](images)
        return images
