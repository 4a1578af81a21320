"""Folders of image files, as users have them: one folder of pictures, or one sub-folder per
class. The ``imagefolder`` dataset and ``ganzoo evaluate --images`` list them the same way."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import DataError, first_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
SIXTEEN_BIT_GREY = ("I;16", "I;16L", "I;16B", "I;16N")  # Pillow's modes of 16-bit grey PNG, TIFF, PGM


@dataclass
class ImageFiles:
    """The image files of a folder. ``classes`` is None for a flat folder; else the class
    sub-folders' names, sorted, and ``labels`` the sub-folder of each file."""

    files: list[Path]
    labels: list[str] | None
    classes: list[str] | None


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(folder: Path, *, skip: Collection[str] = ()) -> ImageFiles:
    """The images directly in ``folder``, or (when it has sub-folders) every image under
    each sub-folder, at any depth, labelled with that sub-folder's name. Hidden entries and
    the sub-folders named in ``skip`` are left out. A folder holding both loose images and
    sub-folders, or neither, is a :class:`DataError`."""
    try:
        entries = sorted(folder.iterdir())
        sub_folders = [p for p in entries if p.is_dir() and not p.name.startswith(".") and p.name not in skip]
        loose = [p for p in entries if is_image(p)]
        if sub_folders and loose:
            raise DataError(f"{folder} holds both image files and sub-folders: put every image in its class's "
                            "sub-folder, or keep one flat folder of images")
        if not sub_folders:
            if not loose:
                raise DataError(f"{folder} holds no image files ({', '.join(IMAGE_SUFFIXES)}) and no class sub-folders")
            return ImageFiles(loose, None, None)
        files: list[Path] = []
        labels: list[str] = []
        for sub_folder in sub_folders:
            inside = sorted(p for p in sub_folder.rglob("*") if is_image(p) and not _hidden(p, sub_folder))
            files += inside
            labels += [sub_folder.name] * len(inside)
    except OSError as exc:
        raise DataError(f"cannot list {folder}: {first_line(exc)}") from None
    if not files:
        raise DataError(f"the class sub-folders of {folder} hold no image files ({', '.join(IMAGE_SUFFIXES)})")
    return ImageFiles(files, labels, [p.name for p in sub_folders])


def eight_bit(picture: Any) -> Any:
    """A PIL image with 8 bits a channel. Pillow's ``convert("L")`` clips 16-bit grey at 255,
    which turns a 16-bit scan nearly white; its values are scaled to 0-255 instead."""
    if picture.mode not in SIXTEEN_BIT_GREY:
        return picture
    scaled = np.rint(np.asarray(picture).astype(np.float64) / 257.0).astype(np.uint8)
    return Image.fromarray(scaled)


def _hidden(path: Path, top: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(top).parts)
