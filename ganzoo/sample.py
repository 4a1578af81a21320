"""``ganzoo sample``: a loaded generator's images -> a PNG grid, an NPZ array file or a
folder of PNGs (``ganzoo.api.LoadedGenerator.save``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from .classes import resolve_class, slug
from .contracts import Generator
from .errors import UsageError
from .files import check_outputs, first_free, folder_replaced_atomically, replaced_atomically
from .generation import generate
from .grids import save_picture, save_png
from .runs.folder import RunFolder

GRID_SUFFIXES = (".png", ".jpg", ".jpeg")


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
    check_outputs((out,), force)


def _refuse_early(target: Path, n_images: int, image_shape: tuple[int, ...], nrow: int, force: bool) -> None:
    """What save_images would refuse, refused before minutes of generating."""
    check_output(target, force)
    check_room(target, n_images, image_shape, nrow)


def write_samples(
    generator: Generator,
    class_names: list[str],
    class_spec: str | None,
    *,
    model: str,
    checkpoint: Path,
    n: int,
    seed: int,
    out: Path | None,
    device: torch.device,
    force: bool,
    progress: bool = False,
    truncation: float | None = None,
) -> Path:
    """Generate ``n`` images of a class (``class_spec``: an index or a name), or ``n`` of
    every class (``all``, the default), and write them to ``out`` (default: beside the
    checkpoint's run, ``samples/sample-CLASS-seedS.png``); return the path written."""
    if not generator.conditional:
        if class_spec is not None:
            raise UsageError(f"{model} is unconditional (this run was trained without class labels): "
                             "it cannot generate a chosen class; leave out --class")
        target = out if out is not None else default_output(checkpoint, "unconditional", seed)
        _refuse_early(target, n, generator.image_shape, min(n, 10), force)
        ignored = torch.zeros(n, dtype=torch.long)  # an unconditional generator reads no labels; none are written
        images = generate(generator, ignored, seed=seed, device=device, progress=progress, truncation=truncation)
        return save_images(images, None, target, nrow=min(n, 10), class_names=[], force=force)
    class_spec = "all" if class_spec is None else class_spec
    every_class = class_spec.strip().lower() == "all"
    if every_class:
        labels = torch.arange(len(class_names)).repeat_interleave(n)
        label_text = "all"
    else:
        index = resolve_class(class_spec, class_names)
        labels = torch.full((n,), index, dtype=torch.long)
        label_text = class_names[index]
    target = out if out is not None else default_output(checkpoint, label_text, seed)
    nrow = n if every_class else min(n, 10)  # one row per class, or rows of ten
    _refuse_early(target, len(labels), generator.image_shape, nrow, force)
    images = generate(generator, labels, seed=seed, device=device, progress=progress, truncation=truncation)
    return save_images(images, labels, target, nrow=nrow, class_names=class_names, force=force)
