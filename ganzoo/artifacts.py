"""A generator from any source, found, loaded and written in one place.

The sources: a run folder (its ``checkpoints/last.pt``), a checkpoint file (``.pt``), an
exported generator (``.safetensors``, ``ganzoo export``: the weights with the JSON
configuration that rebuilds them in the file's metadata) and a Hub model folder
(``ganzoo export --format hub``: ``model.safetensors`` and ``config.json``). Every command
and the Python API find the source with :func:`find` (the one rule for ``--run`` and
``--checkpoint`` is :func:`source_of`'s) and load it with :func:`load_generator`; exports
write the weights with :func:`write_weights`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from . import __version__
from .contracts import Generator
from .errors import CheckpointError, UsageError, first_line
from .files import replaced_atomically
from .runs.checkpoint import load_checkpoint, load_or_point_to_intact
from .runs.folder import RunFolder, newest_run, read_config
from .runs.folder import runs_dir as default_runs_dir
from .runs.folder import upgrade_settings
from .runs.seal import weights_sha256
from .zoo import build_model, known_model, model_owner, recorded_plugin

EXPORT_FORMAT = "ganzoo-generator-1"  # the metadata of an exported .safetensors file
EXPORT_SUFFIX = ".safetensors"
HUB_WEIGHTS, HUB_CONFIG = "model.safetensors", "config.json"  # a Hub folder's weights and configuration
MAX_CLASSES = 100_000  # a config declaring more is damaged, not a data set
INTACT_HINT = "pass it with --checkpoint {path}"  # what to do with the newest intact checkpoint instead


def is_hub_folder(path: Path) -> bool:
    return path.is_dir() and (path / HUB_WEIGHTS).is_file() and (path / HUB_CONFIG).is_file()


def source_of(run: Path | None, checkpoint: Path | None) -> Path | None:
    """What ``--run RUN`` or ``--checkpoint FILE`` names, the same rule for every command:
    one of them or neither (the newest run of the model), never both."""
    if run is not None and checkpoint is not None:
        raise UsageError("give --run or --checkpoint, not both")
    if run is not None and Path(run).is_file():
        raise UsageError(f"--run takes a run folder, and {run} is a file; a checkpoint or an exported generator "
                         "goes with --checkpoint")
    return run if run is not None else checkpoint


def find(source: Path | None, model: str | None, runs_dir: Path | None = None) -> tuple[Path, str]:
    """``(the file to load, the model)`` for a source: a run folder's last checkpoint, a
    checkpoint or exported file, a Hub folder, or with no source the newest run of
    ``model`` under the runs folder. ``model`` is read from the source when not given;
    given, an unknown (or disabled) model name is refused first, with close matches."""
    if model is not None:
        known_model(model)
    if source is None:
        if model is None:
            raise UsageError("name the model, or give a run folder or checkpoint")
        source = newest_run(default_runs_dir(runs_dir), model)
    source = Path(source)
    if is_hub_folder(source):
        return source, model or model_in(source / HUB_WEIGHTS)
    if source.is_dir():
        if not RunFolder(source).config.is_file():
            raise CheckpointError(neither_run_nor_export(source))
        model = model or str(read_config(source).get("model"))
        path = RunFolder(source).last
        if not path.is_file():
            raise CheckpointError(f"run {source} has no checkpoint yet ({path} is missing)")
        return path, model
    if not source.exists():
        raise UsageError(f"{source} does not exist")
    return source, model or model_in(source)


def neither_run_nor_export(folder: Path) -> str:
    """What a folder given as a source lacks: a run's config.yaml, or a Hub export's files."""
    hub = [name for name in (HUB_WEIGHTS, HUB_CONFIG) if (folder / name).is_file()]
    if hub:
        missing = HUB_CONFIG if HUB_WEIGHTS in hub else HUB_WEIGHTS
        return f"{folder} looks like an exported generator for the Hub but has no {missing}"
    return (f"{folder} is a folder but neither a run folder (no config.yaml) nor an exported generator "
            f"({HUB_WEIGHTS} and {HUB_CONFIG})")


def model_in(path: Path) -> str:
    """The model a checkpoint or an exported file holds."""
    if path.suffix == EXPORT_SUFFIX:
        return str(read_exported(path)[0].get("model"))
    return str(load_checkpoint(path).get("model"))


def load_generator(path: Path, model: str, device: torch.device,
                   how_to_use_intact: str = INTACT_HINT) -> tuple[Generator, dict[str, Any]]:
    """Rebuild the generator of ``model`` from ``path`` (a checkpoint, an exported
    ``.safetensors`` generator or a Hub folder); refuse one of another model. An
    unreadable ``last.pt`` names the run's newest intact checkpoint and
    ``how_to_use_intact`` it. A run trained with ``ema`` gives its EMA weights; the
    returned config says which (``weights``: ``ema`` or ``generator``)."""
    payload, weights = _read(path, how_to_use_intact)
    if payload["model"] != model:
        raise CheckpointError(f"{path} is a checkpoint of {payload['model']!r}, not of {model!r}")
    config = payload["config"]
    try:
        settings = upgrade_settings(config["settings"])
        class_names = [str(name) for name in config["class_names"]]
    except (KeyError, TypeError, AttributeError):
        raise CheckpointError(f"{path} has no usable run configuration") from None
    if not 0 < len(class_names) <= MAX_CLASSES:
        raise CheckpointError(f"{path} declares {len(class_names)} classes; a run has 1 to {MAX_CLASSES}")
    try:
        built = build_model(model, settings, len(class_names), recorded_plugin(config))
    except (TypeError, ValueError, KeyError, RuntimeError, OverflowError, MemoryError) as exc:
        raise CheckpointError(f"{path} holds settings that do not build {model!r} ({first_line(exc)})") from None
    state = payload["generator_ema"]["weights"] if weights == "ema" and "generator_ema" in payload else payload["generator"]
    _check_dtypes(path, state, built.generator.state_dict())
    try:
        built.generator.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, ValueError) as exc:
        raise CheckpointError(f"{path} does not fit {model!r} built from its own configuration "
                              f"({mismatch(exc)}){other_maker(config, model)}") from None
    generator = built.generator.to(device).eval()
    return generator, {**config, "settings": settings, "step": payload.get("step"), "weights": weights}


def _read(path: Path, how_to_use_intact: str) -> tuple[dict[str, Any], str]:
    """A checkpoint's payload, or an export's in the same shape, and which weights it gives."""
    if is_hub_folder(path):
        path = path / HUB_WEIGHTS
    if path.suffix == EXPORT_SUFFIX:
        config, state = read_exported(path)
        payload = {"model": config.get("model"), "config": config, "generator": state, "step": config.get("step")}
        return payload, config.get("weights", "generator")
    payload = load_or_point_to_intact(path, how_to_use_intact)
    return payload, "ema" if "generator_ema" in payload else "generator"


def mismatch(exc: BaseException, limit: int = 200) -> str:
    """What torch's load_state_dict refused, in one line: its heading and first detail
    (``size mismatch for head.weight: ...``), not the heading alone."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def other_maker(config: dict[str, Any], model: str) -> str:
    """'; the run was made by plugin X (...), and MODEL is now plugin Y's' when the
    plugin that registers ``model`` now is not the one that made the run."""
    origin = config.get("origin") if isinstance(config.get("origin"), dict) else {}
    made_by, now = origin.get("plugin"), model_owner(model)
    if not made_by or not now or made_by == now:
        return ""
    dist = " ".join(part for part in (origin.get("distribution"), origin.get("version")) if part)
    return f"; the run was made by plugin {made_by!r}{f' ({dist})' if dist else ''}, and {model!r} is now plugin {now!r}'s"


def _check_dtypes(path: Path, state: Any, expected: dict[str, torch.Tensor]) -> None:
    """Weights must be floating point where the model's are (loading int8 tensors into
    float parameters would cast them silently and sample noise), and finite (NaN weights
    sampled black images with exit 0)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds no generator weights")
    for key, tensor in state.items():
        want = expected.get(key)
        if isinstance(tensor, torch.Tensor) and want is not None and want.is_floating_point() \
                and not tensor.is_floating_point():
            raise CheckpointError(f"{path}: weight {key!r} is {str(tensor.dtype).replace('torch.', '')}, "
                                  f"not floating point; the file is not a generator's weights")
    bad = [key for key, tensor in state.items() if isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
           and not bool(torch.isfinite(tensor).all())]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise CheckpointError(f"{path}: weight {bad[0]!r}{more} holds NaN or infinite values; such a generator draws "
                              "no image (a run that diverged? its earlier checkpoints may be intact)")


def rebuild_config(config: dict[str, Any], model: str) -> dict[str, Any]:
    """What rebuilds an exported generator, and where it came from."""
    return {
        "format": EXPORT_FORMAT,
        "model": model,
        "recipe": config.get("recipe"),
        "step": config.get("step"),
        "settings": config["settings"],
        "class_names": list(config["class_names"]),
        "ganzoo_version": __version__,
        "exported_from": config.get("exported_from"),
        "weights": config.get("weights", "generator"),
        "data": config.get("data"),
        "origin": config.get("origin"),
    }


def write_weights(generator: torch.nn.Module, rebuild: dict[str, Any], out: Path) -> None:
    """The generator's state dict as safetensors, the rebuild config in its metadata,
    sealed with the checksum of both (``export_seal``)."""
    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in generator.state_dict().items()}
    metadata = {"format": EXPORT_FORMAT, "model": rebuild["model"], "config": json.dumps(rebuild)}
    with replaced_atomically(out) as tmp:
        save_file(tensors, str(tmp), metadata={**metadata, "sha256": export_seal(tensors, metadata)})


EXPORT_METADATA = ("format", "model", "config", "sha256")  # an export's metadata; "sha256" since 0.6


def export_seal(state: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """An export's checksum: of its tensors (names, dtypes, shapes, bytes) and its metadata."""
    described = json.dumps({key: metadata.get(key) for key in EXPORT_METADATA if key != "sha256"}, sort_keys=True)
    return hashlib.sha256(f"{weights_sha256(state)};{described}".encode()).hexdigest()


def read_exported(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(config, state dict)`` of an exported generator; a damaged file is one clear error."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - the parser's own errors vary with the damage (header, offsets, dtypes)
        raise CheckpointError(f"{path} is not a readable safetensors file ({first_line(exc)})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{path} is not a generator exported by ganzoo (no '{EXPORT_FORMAT}' metadata)")
    unknown = sorted(set(metadata) - set(EXPORT_METADATA))
    if unknown or ("sha256" in metadata and metadata["sha256"] != export_seal(state, metadata)):
        raise CheckpointError(f"{path} is damaged (its tensors or metadata differ from the checksum written "
                              "with them)")
    try:
        config = json.loads(metadata["config"])
    except (KeyError, TypeError, ValueError, RecursionError):
        raise CheckpointError(f"{path} has no readable configuration in its metadata") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} has no readable configuration in its metadata")
    return config, state
