"""Images from a generator: its latents (with the truncation trick), seeded the way every
command seeds them, and the batches that make uint8 images of chosen labels. Sampling,
interpolation, evaluation and export all draw through here."""

from __future__ import annotations

import torch
from tqdm import tqdm

from . import cores
from .contracts import Generator
from .device import check_memory_for
from .errors import UsageError
from .seeds import check_seed


def seeded(seed: int, device: torch.device) -> torch.Generator:
    """The random generator of ``ganzoo sample --seed``: a seed out of range is a usage error."""
    return torch.Generator(device=device).manual_seed(check_seed(seed))


def latents(generator: Generator, n: int, *, rng: torch.Generator, device: torch.device,
            truncation: float | None = None) -> torch.Tensor:
    """``n`` draws of the generator's input; with ``truncation`` psi, the truncation trick
    in StyleGAN's form (Karras et al. 2019): each draw pulled toward the mean latent,
    ``mean + psi * (z - mean)``, the mean of Gaussian noise being 0. psi 1 changes
    nothing, smaller psi gives more typical, less varied images, psi 0 the mean latent's
    one image for every seed."""
    z = generator.sample_latent(n, device=device, generator=rng)
    if truncation is None:
        return z
    if type(generator).sample_latent is not Generator.sample_latent:
        raise UsageError(f"{type(generator).__name__} draws its own kind of input (not plain Gaussian noise): "
                         "the truncation trick does not apply to it")
    if not 0 <= truncation < float("inf"):
        raise UsageError(f"truncation must be a number >= 0, got {truncation}")
    return z * truncation


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats to 0..255 bytes, on the CPU."""
    return images.float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


@torch.no_grad()
def generate(
    generator: Generator, labels: torch.Tensor, *, seed: int, device: torch.device, batch_size: int = 500,
    progress: bool = False, truncation: float | None = None,
) -> torch.Tensor:
    """uint8 images (N, C, H, W) for the given labels, reproducible for a seed; with
    ``progress``, a bar over the batches when there is more than one; ``truncation``: see
    :func:`latents`."""
    check_memory_for(len(labels), generator.image_shape, "ask for fewer (--n)")
    rng = seeded(seed, device)
    chunks = []
    starts = range(0, len(labels), batch_size)
    with cores.shared_cores(device):  # beside other ganzoo jobs on the CPU, its share of the cores
        for start in tqdm(starts, desc="generating", unit="batch", disable=not progress or len(starts) < 2,
                          dynamic_ncols=True, leave=False):
            cores.poll()
            part = labels[start : start + batch_size].to(device)
            z = latents(generator, len(part), rng=rng, device=device, truncation=truncation)
            chunks.append(to_uint8(generator(z, part if generator.conditional else None)))
    return torch.cat(chunks)
