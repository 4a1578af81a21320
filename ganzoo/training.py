"""``ganzoo train``: recipe -> settings -> model + data -> a new run folder, trained."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from . import __version__
from .data import default_data_dir, load_dataset
from .models import build_model, resolve_device
from .plugins import get_host
from .recipes import load_recipe, parse_overrides, resolve
from .train.runs import create_run, now_iso, runs_dir as default_runs_dir, write_config
from .train.trainer import Trainer


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def train_run(
    model: str,
    recipe: str,
    *,
    overrides: list[str],
    data_dir: Path | None = None,
    runs_dir: Path | None = None,
    device: str = "auto",
    progress: bool = True,
) -> Path:
    """Validate everything, then train in a fresh run folder; return that folder."""
    host = get_host()
    spec = host.models.get(model)
    recipe_name, raw = load_recipe(recipe, host.recipes)
    resolved = resolve(spec, recipe_name, raw, parse_overrides(overrides))
    settings = resolved.settings
    host.losses.get(settings["loss"])  # an unknown loss fails before any work
    torch_device = resolve_device(device)

    data = load_dataset(
        settings["dataset"],
        default_data_dir(data_dir),
        train=True,
        channels=settings["channels"],
        image_size=settings["image_size"],
    )
    seed_everything(settings["seed"])
    built = build_model(model, settings, data.num_classes)
    config = {
        "model": model,
        "recipe": recipe_name,
        "created": now_iso(),
        "ganzoo_version": __version__,
        "device": str(torch_device),
        "settings": settings,
    }
    trainer = Trainer(built, settings, data, device=torch_device, config=config, progress=progress)
    run_dir = create_run(default_runs_dir(runs_dir), model, recipe_name)
    trainer.run_dir = run_dir
    write_config(run_dir, {**config, "class_names": data.class_names})
    trainer.fit()
    return run_dir
