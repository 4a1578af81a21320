"""``ganzoo sample``: checkpoint -> generator -> a PNG grid, an NPZ array file or a folder of PNGs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .contracts import Generator
from .data import resolve_class, slug
from .device import check_memory_for, resolve_device
from .errors import CheckpointError, UsageError, first_line
from .files import first_free, folder_replaced_atomically, replaced_atomically
from .grids import save_picture, save_png
from .models import build_model
from .runs.checkpoint import load_or_point_to_intact
from .runs.folder import RunFolder, newest_run, upgrade_settings
from .runs.folder import runs_dir as default_runs_dir
from .seeds import check_seed
from .train import cores

GRID_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_CLASSES = 100_000  # a config declaring more is damaged, not a data set


def find_checkpoint(model: str, run: Path | None, checkpoint: Path | None, runs_root: Path) -> Path:
    """``--checkpoint`` as given, else ``RUN/checkpoints/last.pt`` of ``--run`` or the newest run.
    An unknown (or disabled) model name is refused first, with close matches."""
    from .plugins import get_host

    get_host().models.get(model)
    if checkpoint is not None:
        return checkpoint
    run = run if run is not None else newest_run(runs_root, model)
    path = RunFolder(run).last
    if not path.is_file():
        raise CheckpointError(f"run {run} has no checkpoint yet ({path} is missing)")
    return path


def load_generator(path: Path, model: str, device: torch.device,
                   how_to_use_intact: str = "pass it with --checkpoint {path}") -> tuple[Generator, dict[str, Any]]:
    """Rebuild the generator of ``model`` from a checkpoint (or an exported
    ``.safetensors`` generator); refuse one of another model. An unreadable ``last.pt``
    names the run's newest intact checkpoint and ``how_to_use_intact`` it. A run trained with ``ema``
    gives its EMA weights; the returned config says which (``weights``: ``ema`` or
    ``generator``)."""
    from .runs.hub import WEIGHTS, is_hub_folder

    if is_hub_folder(path):  # ganzoo export --format hub
        path = path / WEIGHTS
    if path.suffix == ".safetensors":
        from .runs.export import read_exported

        config, state = read_exported(path)
        payload = {"model": config.get("model"), "config": config, "generator": state, "step": config.get("step")}
        weights = config.get("weights", "generator")
    else:
        payload = load_or_point_to_intact(path, how_to_use_intact)
        weights = "ema" if "generator_ema" in payload else "generator"
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
        built = build_model(model, settings, len(class_names))
    except (TypeError, ValueError, KeyError, RuntimeError, OverflowError, MemoryError) as exc:
        raise CheckpointError(f"{path} holds settings that do not build {model!r} ({first_line(exc)})") from None
    state = payload["generator_ema"]["weights"] if weights == "ema" and "generator_ema" in payload else payload["generator"]
    _check_dtypes(path, state, built.generator.state_dict())
    try:
        built.generator.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, ValueError) as exc:
        raise CheckpointError(
            f"{path} does not fit {model!r} built from its own configuration ({first_line(exc)})"
        ) from None
    generator = built.generator.to(device).eval()
    return generator, {**config, "settings": settings, "step": payload.get("step"), "weights": weights}


def _check_dtypes(path: Path, state: Any, expected: dict[str, torch.Tensor]) -> None:
    """Weights must be floating point where the model's are: loading int8 tensors into
    float parameters would cast them silently and sample noise."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds no generator weights")
    for key, tensor in state.items():
        want = expected.get(key)
        if isinstance(tensor, torch.Tensor) and want is not None and want.is_floating_point() \
                and not tensor.is_floating_point():
            raise CheckpointError(f"{path}: weight {key!r} is {str(tensor.dtype).replace('torch.', '')}, "
                                  f"not floating point; the file is not a generator's weights")


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
    from tqdm import tqdm

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


def default_output(checkpoint: Path, class_label: str, seed: int) -> Path:
    """``RUN/samples/sample-CLASS-seedS.png``, with a number added rather than overwrite."""
    run = RunFolder.of_checkpoint(checkpoint) or RunFolder(Path.cwd())
    folder = run.samples if run.samples.is_dir() else run.root
    return first_free(folder, f"sample-{slug(class_label) or 'class'}-seed{seed}", ".png")


def bytes_needed(out: Path, n_images: int, image_shape: tuple[int, ...], nrow: int) -> int:
    """An upper estimate of what writing ``n_images`` to ``out`` takes on disk: the raw
    pixels (PNG and npz compression only make it smaller) plus each file's overhead."""
    channels, height, width = image_shape
    pixels = channels * height * width
    suffix = out.suffix.lower()
    if suffix in GRID_SUFFIXES:
        rows = -(-n_images // max(nrow, 1))
        return channels * (rows * (height + 2) + 2) * (nrow * (width + 2) + 2) + 4096
    if suffix == ".npz":
        return n_images * (pixels + 8) + 4096
    return n_images * max(pixels + 1024, 4096)  # a folder: a small file per image, at least a block each


def check_room(out: Path, n_images: int, image_shape: tuple[int, ...], nrow: int) -> None:
    """Refuse, before generating anything, an output the target's file system cannot hold."""
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # nothing to measure with; writing will say what fails
    needed = bytes_needed(out, n_images, image_shape, nrow)
    if needed > free:
        raise UsageError(f"{n_images} images for {out} need about {_size(needed)} and {folder} has {_size(free)} "
                         "free; choose another --out, a smaller --n, or a .png grid")


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def save_images(
    images: torch.Tensor, labels: torch.Tensor | None, out: Path, *, nrow: int, class_names: list[str],
    force: bool = False,
) -> Path:
    """Write ``images`` as a grid (.png/.jpg), an .npz, or a folder of PNGs (no suffix).
    ``labels`` (None for an unconditional generator's images) go into the .npz's ``labels``
    and the PNGs' names, ``NNNNN_CLASS.png``, which ``evaluate --images`` reads back."""
    check_output(out, force)
    suffix = out.suffix.lower()
    # Every output is written beside its target and renamed into place when complete, so
    # an interrupted or failed write leaves nothing behind (and nothing half-overwritten).
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix in GRID_SUFFIXES:
            with replaced_atomically(out) as tmp:
                save_png(images, tmp, nrow=nrow, padding=2, format="PNG" if suffix == ".png" else "JPEG")
        elif suffix == ".npz":
            with replaced_atomically(out) as tmp, open(tmp, "wb") as file:
                arrays = {"images": images.numpy()}
                if labels is not None:
                    arrays["labels"] = labels.numpy()
                np.savez_compressed(file, **arrays)
        else:
            with folder_replaced_atomically(out) as tmp:
                _save_folder(images, labels, tmp, class_names)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def _save_folder(images: torch.Tensor, labels: torch.Tensor | None, out: Path, class_names: list[str]) -> None:
    for i, image in enumerate(images):
        name = f"{i:05d}" if labels is None else f"{i:05d}_{slug(class_names[int(labels[i])]) or 'class'}"
        save_picture(image, out / f"{name}.png", format="PNG")


def check_output(out: Path, force: bool) -> None:
    """A known kind of output, and no existing one overwritten without ``force``."""
    suffix = out.suffix.lower()
    if suffix and suffix not in GRID_SUFFIXES + (".npz",):
        raise UsageError(f"cannot write {out}: use a .png or .jpg grid, an .npz file, or a folder (no suffix)")
    if out.exists() and not force:
        raise UsageError(f"{out} already exists; choose another --out or pass --force to overwrite it")


def _refuse_early(target: Path, n_images: int, image_shape: tuple[int, ...], nrow: int, force: bool) -> None:
    """What save_images would refuse, refused before minutes of generating."""
    check_output(target, force)
    check_room(target, n_images, image_shape, nrow)


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
    progress: bool = False,
    truncation: float | None = None,
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
        target = out if out is not None else default_output(path, "unconditional", seed)
        _refuse_early(target, n, generator.image_shape, min(n, 10), force)
        ignored = torch.zeros(n, dtype=torch.long)  # an unconditional generator reads no labels; none are written
        images = generate(generator, ignored, seed=seed, device=torch_device, progress=progress, truncation=truncation)
        return save_images(images, None, target, nrow=min(n, 10), class_names=[], force=force), config["weights"]
    class_spec = "all" if class_spec is None else class_spec
    every_class = class_spec.strip().lower() == "all"
    if every_class:
        labels = torch.arange(len(class_names)).repeat_interleave(n)
        label_text = "all"
    else:
        index = resolve_class(class_spec, class_names)
        labels = torch.full((n,), index, dtype=torch.long)
        label_text = class_names[index]
    target = out if out is not None else default_output(path, label_text, seed)
    nrow = n if every_class else min(n, 10)  # one row per class, or rows of ten
    _refuse_early(target, len(labels), generator.image_shape, nrow, force)
    images = generate(generator, labels, seed=seed, device=torch_device, progress=progress, truncation=truncation)
    return save_images(images, labels, target, nrow=nrow, class_names=class_names, force=force), config["weights"]
