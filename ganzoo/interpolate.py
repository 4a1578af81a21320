"""``ganzoo interpolate``: walks through a generator's latent space, as a PNG strip and an
animated GIF.

Between seeds: the noise of each seed (the very noise ``ganzoo sample --seed S`` draws
first), joined by straight lines (``linear``) or great circles (``spherical``, which keeps
Gaussian noise at its typical length); a conditional model gets one row per class, or
the class asked for. Across classes: one noise, every class in turn.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from .classes import resolve_class
from .contracts import Generator
from .errors import UsageError
from .files import check_outputs, replaced_atomically
from .generation import latents, seeded, to_uint8
from .grids import tile, to_pil
from .sample import default_output
from .seeds import check_seed

MODES = ("linear", "spherical")
MAX_FRAMES = 1000  # the generator makes every frame (of every class) in one batch


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the rows of ``a`` and ``b`` (flattened) at fractions
    ``t``; falls back to a straight line where the two are (nearly) parallel."""
    a_flat, b_flat = a.flatten(1), b.flatten(1)
    cos = (a_flat * b_flat).sum(1) / (a_flat.norm(dim=1) * b_flat.norm(dim=1)).clamp_min(1e-12)
    omega = cos.clamp(-1, 1).acos()[:, None]
    t = t[:, None]
    small = omega.abs() < 1e-4
    sin = omega.sin().where(~small, torch.ones_like(omega))
    curved = ((1 - t) * omega).sin() / sin * a_flat + (t * omega).sin() / sin * b_flat
    straight = (1 - t) * a_flat + t * b_flat
    return torch.where(small, straight, curved).view_as(a)


def seed_noise(generator: Generator, seed: int, device: torch.device, truncation: float | None) -> torch.Tensor:
    """``(1, ...)``: the first noise ``ganzoo sample --seed SEED`` draws."""
    return latents(generator, 1, rng=seeded(seed, device), device=device,
                   truncation=truncation)


def seed_path(generator: Generator, seeds: list[int], steps: int, mode: str, device: torch.device,
              truncation: float | None = None) -> torch.Tensor:
    """Noise for ``steps`` frames from each seed to the next (the last seed's own noise
    ends the path): ``(frames, ...)``."""
    if len(seeds) < 2:
        raise UsageError("--seeds needs at least two seeds to go between, e.g. --seeds 0,1")
    if mode not in MODES:
        raise UsageError(f"--mode must be linear or spherical, got {mode!r}")
    if steps < 2:
        raise UsageError(f"--steps must be at least 2, got {steps}")
    frames = (len(seeds) - 1) * steps + 1
    if frames > MAX_FRAMES:
        raise UsageError(f"--steps {steps} between {len(seeds)} seeds makes {frames:,} frames; a walk has at most "
                         f"{MAX_FRAMES} (fewer --steps or --seeds)")
    ends = [seed_noise(generator, seed, device, truncation)[0] for seed in seeds]
    frames = []
    for a, b in zip(ends, ends[1:]):
        t = torch.arange(steps, device=device, dtype=a.dtype) / steps  # b itself starts the next leg
        pair_a, pair_b = a.expand(steps, *a.shape), b.expand(steps, *b.shape)
        frames.append(slerp(pair_a, pair_b, t) if mode == "spherical" else pair_a + t.view(-1, *[1] * a.dim())
                      * (pair_b - pair_a))
    frames.append(ends[-1][None])
    return torch.cat(frames)


@torch.no_grad()
def interpolation_grid(generator: Generator, class_names: list[str], *, seeds: list[int], steps: int, mode: str,
                       class_spec: str | None, across_classes: bool, device: torch.device,
                       truncation: float | None = None) -> torch.Tensor:
    """uint8 images ``(rows, frames, C, H, W)``."""
    if across_classes:
        if not generator.conditional:
            raise UsageError("--across-classes needs a conditional model; this one is unconditional")
        z = seed_noise(generator, seeds[0], device, truncation)
        labels = torch.arange(len(class_names), device=device)
        return to_uint8(generator(z.expand(len(labels), *z.shape[1:]), labels))[None]
    z = seed_path(generator, seeds, steps, mode, device, truncation)
    if not generator.conditional:
        if class_spec is not None:
            raise UsageError("this model is unconditional: leave out --class")
        return to_uint8(generator(z, None))[None]
    rows = range(len(class_names)) if class_spec is None or class_spec.lower() == "all" else [
        resolve_class(class_spec, class_names)]
    return torch.stack([to_uint8(generator(z, torch.full((len(z),), k, device=device))) for k in rows])


def write_strip_and_gif(grid: torch.Tensor, png: Path, gif: Path, *, frame_ms: int = 120) -> None:
    """The rows side by side as one PNG; the frames, each showing every row, as a looping GIF."""
    frames = grid.shape[1]
    with replaced_atomically(png) as tmp:  # grey rows become RGB in the tiling, as before
        to_pil(tile(grid.flatten(0, 1), nrow=frames, padding=2)).save(tmp, format="PNG")
    images = [to_pil(tile(grid[:, i], nrow=1, padding=2)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:] + images[-2:0:-1],
                   duration=frame_ms, loop=0)  # there and back again
    with replaced_atomically(gif) as tmp:
        tmp.write_bytes(buffer.getvalue())


def parse_seeds(text: str) -> list[int]:
    """``--seeds 0,1,2``: whole numbers in the seed range, separated by commas."""
    try:
        return [check_seed(int(part), "each of --seeds") for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--seeds takes whole numbers separated by commas, got {text!r}") from None


def write_interpolation(generator: Generator, class_names: list[str], *, checkpoint: Path, seeds: list[int],
                        steps: int, mode: str, class_spec: str | None, across_classes: bool, device: torch.device,
                        truncation: float | None, out: Path | None, force: bool) -> tuple[Path, Path]:
    """The walk written as ``out`` (a .png strip; default: beside the checkpoint's run) and
    the GIF beside it; return both paths. Nothing is overwritten without ``force``."""
    if across_classes and class_spec is not None:
        raise UsageError("--across-classes walks through every class: leave out --class")
    label = "classes" if across_classes else "seeds-" + "-".join(map(str, seeds))
    png = out if out is not None else default_output(checkpoint, f"interpolation-{label}", seeds[0] if seeds else 0)
    if png.suffix.lower() != ".png":
        raise UsageError(f"--out must name a .png file (the GIF goes beside it), got {png}")
    gif = png.with_suffix(".gif")
    check_outputs((png, gif), force)
    grid = interpolation_grid(generator, class_names, seeds=seeds, steps=steps, mode=mode, class_spec=class_spec,
                              across_classes=across_classes, device=device, truncation=truncation)
    png.parent.mkdir(parents=True, exist_ok=True)
    write_strip_and_gif(grid, png, gif)
    return png, gif
