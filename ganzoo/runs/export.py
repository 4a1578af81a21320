"""``ganzoo export``: a run's generator as a safetensors file, the format the PyTorch
ecosystem shares weights in, with the JSON configuration that rebuilds it.

The file holds the generator's state dict (weights and BatchNorm statistics) and, in its
header metadata, ``format`` = ``ganzoo-generator-1``, ``model`` and ``config`` (JSON:
model, recipe, step, resolved settings, class names, ganzoo version, and ``weights``:
``ema`` when the run kept an EMA of G, whose weights are then the ones exported). The
same JSON is written next to it as ``FILE.json`` for people and tools that read JSON.
``ganzoo sample MODEL --checkpoint FILE.safetensors`` loads it (``ganzoo/artifacts.py`` reads
and writes the file itself).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..artifacts import EXPORT_SUFFIX, load_generator, rebuild_config, write_weights
from ..errors import UsageError
from ..files import check_outputs, write_text_atomic
from .hub import export_hub

EXPORT_FORMATS = ("safetensors", "hub")


def check_format(format_: str) -> None:
    if format_ not in EXPORT_FORMATS:
        raise UsageError(f"--format must be {' or '.join(EXPORT_FORMATS)}, got {format_!r}")


def export_checkpoint(model: str, checkpoint: Path, out: Path, *, format_: str = "safetensors", force: bool = False,
                      license_id: str = "mit") -> tuple[Path, str]:
    """Export the generator of ``checkpoint`` (a run's ``.pt``) as a ``.safetensors`` file
    or a Hub folder (``format_``); return what was written and its weights (``ema`` or
    ``generator``). What ``ganzoo export`` and ``ganzoo.api.export`` do."""
    check_format(format_)
    generator, config = load_generator(checkpoint, model, torch.device("cpu"))
    config = {**config, "exported_from": str(checkpoint)}
    if format_ == "hub":
        written = export_hub(generator, config, model, out, force=force, license_id=license_id)
    else:
        written = export_generator(generator, config, model, out, force=force)
    return written, str(config.get("weights", "generator"))


def export_generator(generator: torch.nn.Module, config: dict[str, Any], model: str, out: Path, *, force: bool) -> Path:
    if out.suffix != EXPORT_SUFFIX:
        raise UsageError(f"--out must name a {EXPORT_SUFFIX} file, got {out}")
    sidecar = out.with_suffix(".json")
    check_outputs((out, sidecar), force)
    rebuild = rebuild_config(config, model)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_weights(generator, rebuild, out)
        write_text_atomic(sidecar, json.dumps(rebuild, indent=2) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
