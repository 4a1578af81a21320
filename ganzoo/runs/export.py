"""``ganzoo export``: a run's generator as a safetensors file, the format the PyTorch
ecosystem shares weights in, with the JSON configuration that rebuilds it.

The file holds the generator's state dict (weights and BatchNorm statistics) and, in its
header metadata, ``format`` = ``ganzoo-generator-1``, ``model`` and ``config`` (JSON:
model, recipe, step, resolved settings, class names, ganzoo version, and ``weights``:
``ema`` when the run kept an EMA of G, whose weights are then the ones exported). The
same JSON is written next to it as ``FILE.json`` for people and tools that read JSON.
``ganzoo sample MODEL --checkpoint FILE.safetensors`` loads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import CheckpointError, UsageError, first_line
from ..files import replaced_atomically, write_text_atomic

FORMAT = "ganzoo-generator-1"
SUFFIX = ".safetensors"


EXPORT_FORMATS = ("safetensors", "hub")


def check_format(format_: str) -> None:
    if format_ not in EXPORT_FORMATS:
        raise UsageError(f"--format must be {' or '.join(EXPORT_FORMATS)}, got {format_!r}")


def export_checkpoint(model: str, checkpoint: Path, out: Path, *, format_: str = "safetensors", force: bool = False,
                      license_id: str = "mit") -> tuple[Path, str]:
    """Export the generator of ``checkpoint`` (a run's ``.pt``) as a ``.safetensors`` file
    or a Hub folder (``format_``); return what was written and its weights (``ema`` or
    ``generator``). What ``ganzoo export`` and ``ganzoo.api.export`` do."""
    from ..sample import load_generator
    from .hub import export_hub

    check_format(format_)
    generator, config = load_generator(checkpoint, model, torch.device("cpu"))
    config = {**config, "exported_from": str(checkpoint)}
    if format_ == "hub":
        written = export_hub(generator, config, model, out, force=force, license_id=license_id)
    else:
        written = export_generator(generator, config, model, out, force=force)
    return written, str(config.get("weights", "generator"))


def export_generator(generator: torch.nn.Module, config: dict[str, Any], model: str, out: Path, *, force: bool) -> Path:
    if out.suffix != SUFFIX:
        raise UsageError(f"--out must name a {SUFFIX} file, got {out}")
    sidecar = out.with_suffix(".json")
    for path in (out, sidecar):
        if path.exists() and not force:
            raise UsageError(f"{path} already exists; choose another --out or pass --force to overwrite it")
    rebuild = rebuild_config(config, model)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_weights(generator, rebuild, out)
        write_text_atomic(sidecar, json.dumps(rebuild, indent=2) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def rebuild_config(config: dict[str, Any], model: str) -> dict[str, Any]:
    """What rebuilds the generator, and where it came from."""
    return {
        "format": FORMAT,
        "model": model,
        "recipe": config.get("recipe"),
        "step": config.get("step"),
        "settings": config["settings"],
        "class_names": list(config["class_names"]),
        "ganzoo_version": __version__,
        "exported_from": config.get("exported_from"),
        "weights": config.get("weights", "generator"),
        "data": config.get("data"),
    }


def write_weights(generator: torch.nn.Module, rebuild: dict[str, Any], out: Path) -> None:
    """The generator's state dict as safetensors, the rebuild config in its metadata."""
    from safetensors.torch import save_file

    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in generator.state_dict().items()}
    with replaced_atomically(out) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "model": rebuild["model"],
                                               "config": json.dumps(rebuild)})


def read_exported(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(config, state dict)`` of an exported generator; a damaged file is one clear error."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - the parser's own errors vary with the damage (header, offsets, dtypes)
        raise CheckpointError(f"{path} is not a readable safetensors file ({first_line(exc)})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a generator exported by ganzoo (no '{FORMAT}' metadata)")
    try:
        config = json.loads(metadata["config"])
    except (KeyError, TypeError, ValueError, RecursionError):
        raise CheckpointError(f"{path} has no readable configuration in its metadata") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} has no readable configuration in its metadata")
    return config, state
