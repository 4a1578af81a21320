"""Images that ganzoo did not make, for ``ganzoo evaluate --images PATH``.

Two forms are read, both untrusted input (every failure is one :class:`DataError` line
naming the file):

* an ``.npz`` holding ``images`` (uint8; ``(N, H, W)``, ``(N, C, H, W)`` or
  ``(N, H, W, C)`` with C = 1 or 3) and optionally ``labels`` (integers, one per image,
  class indices of the dataset); pickled objects are never loaded;
* a folder of image files (PNG, JPEG, BMP, WebP, TIFF, PPM/PGM): flat for unlabelled
  images, or one sub-folder per class named by the class's name (``7``, ``Sneaker``) or
  its index (listed by :func:`ganzoo.image_files.list_images`, as the ``imagefolder``
  dataset is). A flat folder whose every file is named as ``ganzoo sample --out DIR``
  names them, ``NNNNN_CLASS.png`` with CLASS a class of the dataset, is labelled by those
  names.

Images are scored at the size they come in: no resize happens on the generated side,
because a resize moves FID by more than most model changes; they must all be square and
of one size.
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..classes import slug
from ..errors import DataError, did_you_mean, first_line
from ..image_files import eight_bit, list_images

MAX_IMAGE_SIDE = 1024  # a GAN sample larger than this is not what this path is for
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass
class ImageSet:
    """Images as read: uint8 ``(N, C, H, W)``, and for labelled sets the raw label of each
    image (an index in an npz, a sub-folder name in a folder) until they are matched to the
    dataset's classes by :meth:`labels_for`."""

    path: Path
    form: str  # "npz" or "folder"
    images: torch.Tensor
    raw_labels: list[str] | np.ndarray | None
    file_stems: list[str] | None = None  # a flat folder's file names, which may name the classes
    keys: tuple[str, str] = ("images", "labels")  # an npz's arrays of images and labels

    def label_source(self) -> str:
        """Where :meth:`labels_for`'s labels come from, in words, when it gives any."""
        if isinstance(self.raw_labels, np.ndarray):
            return f"the npz's {self.keys[1]!r}"
        if self.raw_labels is not None:
            return "class sub-folders"
        return "file names NNNNN_CLASS (ganzoo sample's folder)"

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def sha256(self) -> str:
        digest = hashlib.sha256(self.images.numpy().tobytes())
        if isinstance(self.raw_labels, np.ndarray):
            digest.update(self.raw_labels.astype(np.int64).tobytes())
        elif self.raw_labels is not None:
            digest.update("\n".join(self.raw_labels).encode())
        return digest.hexdigest()

    def labels_for(self, class_names: list[str]) -> torch.Tensor | None:
        """Class indices of the images in ``class_names``' order; a label that names no
        class is a DataError."""
        if self.raw_labels is None:
            return self._labels_in_names(class_names)
        k = len(class_names)
        if isinstance(self.raw_labels, np.ndarray):
            bad = (self.raw_labels < 0) | (self.raw_labels >= k)
            if bad.any():
                value = int(self.raw_labels[np.argmax(bad)])
                raise DataError(f"{self.path}: label {value} is not a class index of the dataset (0 to {k - 1})")
            return torch.from_numpy(self.raw_labels.astype(np.int64))
        index = {**_by_slug(class_names), **{name: i for i, name in enumerate(class_names)},
                 **{str(i): i for i in range(k)}}
        labels = []
        for name in self.raw_labels:
            if name not in index:
                raise DataError(f"{self.path}: sub-folder {name!r} names no class of the dataset"
                                f"{did_you_mean(name, class_names)} (a class's name or index 0 to {k - 1})")
            labels.append(index[name])
        return torch.tensor(labels, dtype=torch.long)

    def _labels_in_names(self, class_names: list[str]) -> torch.Tensor | None:
        """The classes named by ``NNNNN_CLASS`` file names (CLASS a class's slug), when every
        file of the flat folder is named so; else None."""
        if not self.file_stems:
            return None
        index = _by_slug(class_names)
        labels = []
        for stem in self.file_stems:
            number, _, name = stem.partition("_")
            if not number.isdigit() or name not in index:
                return None
            labels.append(index[name])
        return torch.tensor(labels, dtype=torch.long)


def _by_slug(class_names: list[str]) -> dict[str, int]:
    """Each class's index under its lower-case dashed name ("0-zero" for "0 - zero")."""
    return {slug(name): i for i, name in enumerate(class_names)}


def read_image_set(path: Path, progress: bool = True) -> ImageSet:
    """An ``.npz`` file or a folder of images, as an :class:`ImageSet`."""
    if path.is_dir():
        return _read_folder(path, progress)
    if not path.exists():
        raise DataError(f"{path} does not exist: --images takes an .npz file or a folder of images")
    if path.suffix.lower() != ".npz":
        raise DataError(f"{path} is neither an .npz file nor a folder: --images takes one of those")
    return _read_npz(path)


# -- .npz ----------------------------------------------------------------------------------
# Named arrays, or the positional ones of np.savez(path, images[, labels]): the form of
# OpenAI's guided-diffusion samples, which its evaluation suite (and many papers' code) reads.
NPZ_KEYS = (("images", "labels"), ("arr_0", "arr_1"))


ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first entry, or an empty one's end
NPY_START = b"\x93NUMPY"


def _check_npz_header(path: Path) -> None:
    """An .npz is a zip archive: anything else is named for what it is before numpy reads
    it (numpy takes any other bytes for a pickle and advises loading it unsafely)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(NPY_START))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(NPY_START):
        raise DataError(f"{path} is an .npy file (one array); save the images with np.savez(path, images=..., "
                        "labels=...)")
    if not head.startswith(ZIP_STARTS):
        raise DataError(f"{path} is not an .npz file: it does not start as a zip archive (what np.savez writes) does")


def _read_npz(path: Path) -> ImageSet:
    _check_npz_header(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            keys = next((pair for pair in NPZ_KEYS if pair[0] in names), None)
            if keys is None:
                raise DataError(f"{path} has no 'images' array, nor np.savez's unnamed 'arr_0' (it holds: "
                                f"{', '.join(sorted(names)) or 'nothing'})")
            images = archive[keys[0]]
            labels = archive[keys[1]] if keys[1] in names else None
    except DataError:
        raise
    except Exception as exc:  # numpy's parsers raise many kinds (zipfile, tokenize, ValueError...) on bad bytes
        raise DataError(f"{path} is not a readable .npz file ({type(exc).__name__}: {first_line(exc, '')})") from None
    return ImageSet(path, "npz", _images_from_array(path, images, keys[0]),
                    _labels_from_array(path, labels, len(images), keys[1]), keys=keys)


def _images_from_array(path: Path, array: np.ndarray, key: str) -> torch.Tensor:
    if array.dtype != np.uint8:
        raise DataError(f"{path}: {key!r} is {array.dtype}, not uint8 (pixel values 0-255)")
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[1] not in (1, 3) and array.shape[3] in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise DataError(f"{path}: {key!r} has shape {tuple(array.shape)}; expected (N, H, W), (N, C, H, W) "
                        "or (N, H, W, C) with C = 1 or 3")
    _check_size(path, array.shape[0], array.shape[2], array.shape[3])
    return torch.from_numpy(np.ascontiguousarray(array))


def _labels_from_array(path: Path, labels: np.ndarray | None, n: int, key: str) -> np.ndarray | None:
    if labels is None:
        return None
    if labels.dtype.kind not in "iu" or labels.ndim != 1 or len(labels) != n:
        raise DataError(f"{path}: {key!r} must be {n} integers, one per image; it is {labels.dtype} "
                        f"of shape {tuple(labels.shape)}")
    return labels.astype(np.int64)


def _check_size(path: Path, n: int, height: int, width: int) -> None:
    if n == 0:
        raise DataError(f"{path} holds no images")
    if height != width:
        raise DataError(f"{path}: images are {height}x{width}; ganzoo scores square images at their own size")
    if not 8 <= height <= MAX_IMAGE_SIDE:
        raise DataError(f"{path}: images are {height}x{width}; ganzoo scores images of 8 to {MAX_IMAGE_SIDE} pixels a side")


# -- a folder of image files ---------------------------------------------------------------
def _read_folder(path: Path, progress: bool) -> ImageSet:
    listing = list_images(path)
    files, raw_labels = listing.files, listing.labels
    mode: str | None = None  # the first image's, grey or colour; the others are converted to it
    images: torch.Tensor | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for i, file in enumerate(tqdm(files, desc=f"reading {path.name}", disable=not progress, file=sys.stderr,
                                      mininterval=0.5 if sys.stderr.isatty() else 30.0)):
            array, mode = _read_picture(file, Image, mode)
            if images is None:
                _check_size(file, len(files), array.shape[1], array.shape[2])
                images = torch.empty((len(files), *array.shape), dtype=torch.uint8)
            elif array.shape != images.shape[1:]:
                raise DataError(f"{file} is {array.shape[1]}x{array.shape[2]}, {files[0]} is "
                                f"{images.shape[2]}x{images.shape[3]}: every image must have one size")
            images[i] = torch.from_numpy(array)
    stems = [file.stem for file in files] if raw_labels is None else None
    return ImageSet(path, "folder", images, raw_labels, stems)


def _read_picture(file: Path, Image, mode: str | None) -> tuple[np.ndarray, str]:
    """One image file as a uint8 ``(C, H, W)`` array in ``mode`` (``L`` or ``RGB``; when
    None, grey images give ``L``, others ``RGB``), and the mode."""
    try:
        with Image.open(file) as picture:
            if max(picture.size) > MAX_IMAGE_SIDE:
                raise DataError(f"{file} is {picture.size[0]}x{picture.size[1]}; ganzoo scores images of up to "
                                f"{MAX_IMAGE_SIDE} pixels a side")
            mode = mode or ("L" if picture.mode in GREY_MODES else "RGB")
            array = np.asarray(eight_bit(picture).convert(mode))
    except DataError:
        raise
    except Exception as exc:  # Pillow's decoders raise many kinds on bad bytes; a bomb warning is one too
        raise DataError(f"{file} is not a readable image ({type(exc).__name__}: {first_line(exc, '')})") from None
    return (array[None] if mode == "L" else array.transpose(2, 0, 1)).copy(), mode
