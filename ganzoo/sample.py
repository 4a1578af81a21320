"""``ganzoo sample``: checkpoint -> generator -> a PNG grid, an NPZ array file or a folder of PNGs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .contracts import Generator
from .data import resolve_class, slug
from .device import resolve_device
from .errors import CheckpointError, UsageError, first_line
from .models import build_model
from .runs.checkpoint import load_checkpoint
from .runs.folder import RunFolder, newest_run, upgrade_settings
from .runs.folder import runs_dir as default_runs_dir

GRID_SUFFIXES = (".png", ".jpg", ".jpeg")


def find_checkpoint(model: str, run: Path | None, checkpoint: Path | None, runs_root: Path) -> Path:
    """``--checkpoint`` as given, else ``RUN/checkpoints/last.pt`` of ``--run`` or the newest run."""
    if checkpoint is not None:
        return checkpoint
    run = run if run is not None else newest_run(runs_root, model)
    path = RunFolder(run).last
    if not path.is_file():
        raise CheckpointError(f"run {run} has no checkpoint yet ({path} is missing)")
    return path


def load_generator(path: Path, model: str, device: torch.device) -> tuple[Generator, dict[str, Any]]:
    """Rebuild the generator of ``model`` from a checkpoint (or an exported
    ``.safetensors`` generator); refuse one of another model. A run trained with ``ema``
    gives its EMA weights; the returned config says which (``weights``: ``ema`` or
    ``generator``)."""
    if path.suffix == ".safetensors":
        from .runs.export import read_exported

        config, state = read_exported(path)
        payload = {"model": config.get("model"), "config": config, "generator": state, "step": config.get("step")}
        weights = config.get("weights", "generator")
    else:
        payload = load_checkpoint(path)
        weights = "ema" if "generator_ema" in payload else "generator"
    if payload["model"] != model:
        raise CheckpointError(f"{path} is a checkpoint of {payload['model']!r}, not of {model!r}")
    config = payload["config"]
    try:
        settings = upgrade_settings(config["settings"])
        class_names = list(config["class_names"])
    except (KeyError, TypeError):
        raise CheckpointError(f"{path} has no usable run configuration") from None
    built = build_model(model, settings, len(class_names))
    state = payload["generator_ema"]["weights"] if weights == "ema" and "generator_ema" in payload else payload["generator"]
    try:
        built.generator.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            f"{path} does not fit {model!r} built from its own configuration ({first_line(exc)})"
        ) from None
    generator = built.generator.to(device).eval()
    return generator, {**config, "settings": settings, "step": payload.get("step"), "weights": weights}


@torch.no_grad()
def generate(
    generator: Generator, labels: torch.Tensor, *, seed: int, device: torch.device, batch_size: int = 500
) -> torch.Tensor:
    """uint8 images (N, C, H, W) for the given labels, reproducible for a seed."""
    rng = torch.Generator(device=device).manual_seed(seed)
    chunks = []
    for start in range(0, len(labels), batch_size):
        part = labels[start : start + batch_size].to(device)
        z = generator.sample_latent(len(part), device=device, generator=rng)
        images = generator(z, part if generator.conditional else None)
        chunks.append(images.float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu())
    return torch.cat(chunks)


def default_output(checkpoint: Path, class_label: str, seed: int) -> Path:
    """``RUN/samples/sample-CLASS-seedS.png``, with a number added rather than overwrite."""
    run = RunFolder.of_checkpoint(checkpoint) or RunFolder(Path.cwd())
    folder = run.samples if run.samples.is_dir() else run.root
    base = f"sample-{slug(class_label) or 'class'}-seed{seed}"
    path = folder / f"{base}.png"
    number = 2
    while path.exists():
        path = folder / f"{base}-{number}.png"
        number += 1
    return path


def save_images(
    images: torch.Tensor, labels: torch.Tensor, out: Path, *, nrow: int, class_names: list[str], force: bool = False
) -> Path:
    """Write ``images`` as a grid (.png/.jpg), an .npz, or a folder of PNGs (no suffix)."""
    suffix = out.suffix.lower()
    if suffix and suffix not in GRID_SUFFIXES + (".npz",):
        raise UsageError(f"cannot write {out}: use a .png or .jpg grid, an .npz file, or a folder (no suffix)")
    if out.exists() and not force:
        raise UsageError(f"{out} already exists; choose another --out or pass --force to overwrite it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix in GRID_SUFFIXES:
            from torchvision.utils import save_image

            save_image(images.float() / 255.0, out, nrow=nrow, padding=2)
        elif suffix == ".npz":
            np.savez_compressed(out, images=images.numpy(), labels=labels.numpy())
        else:
            _save_folder(images, labels, out, class_names)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def _save_folder(images: torch.Tensor, labels: torch.Tensor, out: Path, class_names: list[str]) -> None:
    from torchvision.utils import save_image

    os.makedirs(out, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels.tolist())):
        save_image(image.float() / 255.0, out / f"{i:05d}_{slug(class_names[label]) or 'class'}.png")


def sample_to_file(
    model: str,
    class_spec: str | None,
    *,
    n: int,
    run: Path | None,
    checkpoint: Path | None,
    runs_dir: Path | None,
    seed: int,
    out: Path | None,
    device: str,
    force: bool,
) -> tuple[Path, str]:
    """Generate and write the samples; return the output path and which weights made
    them (``ema`` or ``generator``)."""
    torch_device = resolve_device(device)
    path = find_checkpoint(model, run, checkpoint, default_runs_dir(runs_dir))
    generator, config = load_generator(path, model, torch_device)
    class_names = list(config["class_names"])
    if not generator.conditional:
        if class_spec is not None:
            raise UsageError(f"{model} is unconditional (this run was trained without class labels): "
                             "it cannot generate a chosen class; leave out --class")
        labels = torch.zeros(n, dtype=torch.long)  # ignored by the generator; kept for .npz/folder outputs
        images = generate(generator, labels, seed=seed, device=torch_device)
        target = out if out is not None else default_output(path, "unconditional", seed)
        return save_images(images, labels, target, nrow=min(n, 10), class_names=["sample"], force=force), config["weights"]
    class_spec = "all" if class_spec is None else class_spec
    every_class = class_spec.strip().lower() == "all"
    if every_class:
        labels = torch.arange(len(class_names)).repeat_interleave(n)
        label_text = "all"
    else:
        index = resolve_class(class_spec, class_names)
        labels = torch.full((n,), index, dtype=torch.long)
        label_text = class_names[index]
    images = generate(generator, labels, seed=seed, device=torch_device)
    target = out if out is not None else default_output(path, label_text, seed)
    nrow = n if every_class else min(n, 10)  # one row per class, or rows of ten
    return save_images(images, labels, target, nrow=nrow, class_names=class_names, force=force), config["weights"]
