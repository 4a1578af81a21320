"""``ganzoo sample``: checkpoint -> generator -> images of one class or all of them."""

from __future__ import annotations

from pathlib import Path

import torch

from .data import resolve_class
from .models import resolve_device
from .sample import default_output, find_checkpoint, generate, load_generator, save_images
from .train.runs import runs_dir as default_runs_dir


def sample_to_file(
    model: str,
    class_spec: str,
    *,
    n: int,
    run: Path | None,
    checkpoint: Path | None,
    runs_dir: Path | None,
    seed: int,
    out: Path | None,
    device: str,
    force: bool,
) -> Path:
    torch_device = resolve_device(device)
    path = find_checkpoint(model, run, checkpoint, default_runs_dir(runs_dir))
    generator, config = load_generator(path, model, torch_device)
    class_names = list(config["class_names"])
    if class_spec.strip().lower() == "all":
        labels = torch.arange(len(class_names)).repeat_interleave(n)
        label_text = "all"
    else:
        index = resolve_class(class_spec, class_names)
        labels = torch.full((n,), index, dtype=torch.long)
        label_text = class_names[index]
    images = generate(generator, labels, seed=seed, device=torch_device)
    target = out if out is not None else default_output(path, label_text, seed)
    nrow = n if class_spec.strip().lower() == "all" else min(n, 10)
    return save_images(images, labels, target, nrow=nrow, class_names=class_names, force=force)
