"""The built-in datasets, registered by ganzoo's own plugin (``standard.py``).

Torchvision data sets are downloaded into the data root when missing. Offline, the
error says which folder was searched and which files belong there. MNIST's and
Fashion-MNIST's IDX files are read here (a header and a byte array), so that training and
evaluating on them need no torchvision import (about 1.5 s on a small CPU); torchvision
downloads them, and reads CIFAR-10 and image folders.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import stat
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import DATA_DIR_ENV, ImageData, cache_dir
from .deferred import torchvision
from .errors import DataError, NoTestSplit, first_line
from .image_files import IMAGE_SUFFIXES, eight_bit, list_images


@dataclass(frozen=True)
class IdxDataset:
    """An MNIST-format data set: its torchvision class and folder name, and its classes
    (torchvision's names, which runs, reports and the pinned judges record)."""

    folder: str  # DATA_ROOT/FOLDER/raw, torchvision's layout
    classes: tuple[str, ...]

    files = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")

    def torchvision_class(self):
        return getattr(torchvision_datasets(), self.folder)


def torchvision_datasets():
    """torchvision.datasets, imported on first need (a download, CIFAR-10)."""
    return torchvision("datasets")


MNIST = IdxDataset("MNIST", ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
                             "7 - seven", "8 - eight", "9 - nine"))
FASHION_MNIST = IdxDataset("FashionMNIST", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                            "Sneaker", "Bag", "Ankle boot"))


def read_idx(path: Path, dims: int) -> torch.Tensor:
    """An IDX file of unsigned bytes with ``dims`` dimensions (LeCun's format: two zero
    bytes, the type 0x08, the number of dimensions, each size as a big-endian uint32).
    Reads no more than the header declares, and only after the file's own size agrees
    with it (a device or a pipe, whose size says nothing, is refused)."""
    with open(path, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        header = handle.read(4 + 4 * dims)
        if len(header) < 4 + 4 * dims or header[:4] != bytes((0, 0, 8, dims)):
            raise ValueError(f"{path.name} is not an IDX file of {dims}-d unsigned bytes")
        shape = [int.from_bytes(header[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
        declared, held = math.prod(shape), os.fstat(handle.fileno()).st_size - len(header)
        if held != declared:
            raise ValueError(f"{path.name} holds {held} bytes of data, its header says {shape}")
        body = handle.read(declared)
    if len(body) != declared:  # the file shrank while it was read
        raise ValueError(f"{path.name} holds {len(body)} bytes of data, its header says {shape}")
    return torch.from_numpy(np.frombuffer(body, dtype=np.uint8).copy().reshape(shape))


def idx_root(root: Path, kind: IdxDataset) -> Path | None:
    """A root whose raw folder holds the uncompressed IDX files, or None.

    When only the ``.gz`` files are there (a read-only copy, or a subset whose checksums
    differ from the official ones, so torchvision would try to download it again), they
    are decompressed once into the cache; the user's data folder is never written to.
    """
    raw = root / kind.folder / "raw"
    names = kind.files
    plain = [name[: -len(".gz")] for name in names]
    if all((raw / name).is_file() for name in plain):
        return root
    if not all((raw / name).is_file() for name in names):
        return None
    stamp = [str(raw.resolve())] + [f"{(raw / n).stat().st_size}:{(raw / n).stat().st_mtime_ns}" for n in names]
    key = hashlib.sha256("|".join(stamp).encode()).hexdigest()[:16]
    target_root = cache_dir() / "extracted" / key
    target_raw = target_root / kind.folder / "raw"
    target_raw.mkdir(parents=True, exist_ok=True)
    for gz_name, name in zip(names, plain):
        if not (target_raw / name).is_file():
            with tempfile.TemporaryDirectory(dir=target_raw) as tmp:
                extracted = Path(tmp) / name
                try:
                    with gzip.open(raw / gz_name, "rb") as packed, open(extracted, "wb") as plain_file:
                        shutil.copyfileobj(packed, plain_file)
                except (OSError, EOFError, zlib.error) as exc:
                    raise DataError(f"cannot decompress {raw / gz_name}: {first_line(exc)}") from None
                os.replace(extracted, target_raw / name)
    return target_root


def _load_idx(kind: IdxDataset, name: str, root: Path, train: bool) -> ImageData:
    ready = idx_root(root, kind)
    if ready is None:
        _download(lambda: kind.torchvision_class()(str(root), train=train, download=True), name,
                  root / kind.folder / "raw", list(kind.files))
        ready = idx_root(root, kind) or root
    raw = ready / kind.folder / "raw"
    prefix = "train" if train else "t10k"
    try:
        images = read_idx(raw / f"{prefix}-images-idx3-ubyte", 3)
        labels = read_idx(raw / f"{prefix}-labels-idx1-ubyte", 1)
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {name} in {raw}: {first_line(exc)} (damaged or not IDX files)") from None
    return ImageData(name, images.unsqueeze(1).contiguous(), labels.long(), list(kind.classes))


def _download(fetch, name: str, folder: Path, files: list[str]) -> None:
    """Fetch the data into ``folder``; a failed attempt takes back the empty folders it made
    (the user's data folder is left as it was found)."""
    missing = [parent for parent in (folder, *folder.parents) if not parent.exists()]
    try:
        fetch()
    except Exception as exc:
        for made in missing:  # deepest first; a folder that holds anything stays
            try:
                made.rmdir()
            except OSError:
                break
        reason = first_line(exc)
        raise DataError(
            f"{name} is not in {folder} and could not be downloaded ({reason}); "
            f"put {', '.join(files)} there, or point --data-dir / ${DATA_DIR_ENV} at a folder that has them"
        ) from None


def _load_cifar10(name: str, root: Path, train: bool) -> ImageData:
    cls = torchvision_datasets().CIFAR10
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:  # torchvision: "Dataset not found or corrupted"
        _download(lambda: cls(str(root), train=train, download=True), name, root, [cls.filename, cls.base_folder + "/"])
        ds = cls(str(root), train=train, download=False)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return ImageData(name, images, torch.tensor(ds.targets, dtype=torch.long), list(ds.classes))


# -- ImageFolder: users' own images, flat or one sub-folder per class ---------------------
def _load_image_folder(name: str, root: Path, train: bool, channels: int, image_size: int) -> ImageData:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist: it must hold your images, in it or in one "
                        "sub-folder per class")
    split = root / ("train" if train else "test")
    if split.is_dir():
        folder, skip = split, ()
    elif not train:
        raise NoTestSplit(f"{root} has no test/ sub-folder")
    else:
        folder, skip = root, ("test",)
    listing = list_images(folder, skip=skip)
    if listing.classes is None:  # one flat folder: one class, named after the data folder in both splits
        class_names, labels = [root.resolve().name or "images"], [0] * len(listing.files)
    else:
        class_names = listing.classes
        empty = sorted(set(class_names) - set(listing.labels or []))
        if empty:
            raise DataError(f"class folder {folder / empty[0]} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        index = {class_name: k for k, class_name in enumerate(class_names)}
        labels = [index[label] for label in listing.labels or []]
    TF = torchvision("transforms.v2.functional")
    mode = "L" if channels == 1 else "RGB"
    images = torch.empty(len(listing.files), channels, image_size, image_size, dtype=torch.uint8)
    for i, path in enumerate(listing.files):
        tensor = TF.resize(_read_picture(path, mode, TF), [image_size], antialias=True)
        images[i] = TF.center_crop(tensor, [image_size, image_size])
    return ImageData(name, images, torch.tensor(labels, dtype=torch.long), class_names)


def _read_picture(path: Path, mode: str, TF) -> torch.Tensor:
    """One image file as a uint8 (C, H, W) tensor in ``mode``; a picture too large for
    Pillow to open safely is refused as ``evaluate --images`` refuses it, not warned of."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as picture:
                return TF.pil_to_tensor(eight_bit(picture).convert(mode))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise DataError(f"{path} is too large to read safely ({first_line(exc)}); make it smaller or "
                            "remove it") from None
        except Exception as exc:  # Pillow's decoders raise many kinds on bad bytes
            raise DataError(f"{path} is not a readable image ({type(exc).__name__}); remove it or fix it") from None


def mnist(root: Path, *, train: bool) -> ImageData:
    return _load_idx(MNIST, "mnist", root, train)


def fashion_mnist(root: Path, *, train: bool) -> ImageData:
    return _load_idx(FASHION_MNIST, "fashion-mnist", root, train)


def cifar10(root: Path, *, train: bool) -> ImageData:
    return _load_cifar10("cifar10", root, train)


def image_folder(root: Path, *, train: bool, channels: int, image_size: int) -> ImageData:
    return _load_image_folder("imagefolder", root, train, channels, image_size)


BUILTIN = {
    "mnist": (mnist, "MNIST handwritten digits, 28x28 grey, 10 classes (torchvision)"),
    "fashion-mnist": (fashion_mnist, "Fashion-MNIST clothing, 28x28 grey, 10 classes (torchvision)"),
    "cifar10": (cifar10, "CIFAR-10 photographs, 32x32 colour, 10 classes (torchvision)"),
    "imagefolder": (image_folder, "your own images: DATA_DIR/*.png (one class) or DATA_DIR/CLASS/*.png "
                                  "(or train/ and test/ sub-folders)"),
}
