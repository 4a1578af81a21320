"""The built-in datasets, registered by ganzoo's own plugin (``standard.py``).

Torchvision data sets are downloaded into the data root when missing. Offline, the
error says which folder was searched and which files belong there.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch
from torchvision import datasets
from torchvision.datasets.utils import extract_archive
from torchvision.transforms.v2 import functional as TF

from .data import DATA_DIR_ENV, ImageData, cache_dir
from .errors import DataError, first_line


def _idx_files(cls: type[datasets.MNIST]) -> list[str]:
    return [os.path.basename(url) for url, _ in cls.resources]


def idx_root(root: Path, cls: type[datasets.MNIST]) -> Path | None:
    """A root whose raw folder holds the uncompressed IDX files, or None.

    When only the ``.gz`` files are there (a read-only copy, or a subset whose checksums
    differ from the official ones, so torchvision would try to download it again), they
    are decompressed once into the cache; the user's data folder is never written to.
    """
    raw = root / cls.__name__ / "raw"
    names = _idx_files(cls)
    plain = [name[: -len(".gz")] for name in names]
    if all((raw / name).is_file() for name in plain):
        return root
    if not all((raw / name).is_file() for name in names):
        return None
    stamp = [str(raw.resolve())] + [f"{(raw / n).stat().st_size}:{(raw / n).stat().st_mtime_ns}" for n in names]
    key = hashlib.sha256("|".join(stamp).encode()).hexdigest()[:16]
    target_root = cache_dir() / "extracted" / key
    target_raw = target_root / cls.__name__ / "raw"
    target_raw.mkdir(parents=True, exist_ok=True)
    for gz_name, name in zip(names, plain):
        if not (target_raw / name).is_file():
            with tempfile.TemporaryDirectory(dir=target_raw) as tmp:
                extracted = extract_archive(str(raw / gz_name), tmp)
                os.replace(extracted, target_raw / name)
    return target_root


def _load_idx(cls: type[datasets.MNIST], name: str, root: Path, train: bool) -> ImageData:
    ready = idx_root(root, cls)
    if ready is None:
        _download(lambda: cls(str(root), train=train, download=True), name, root / cls.__name__ / "raw", _idx_files(cls))
        ready = root
    try:
        ds = cls(str(ready), train=train, download=False)
    except Exception as exc:
        raise DataError(f"cannot read {name} in {ready / cls.__name__ / 'raw'}: {first_line(exc)} (damaged or not "
                        "IDX files)") from None
    images = ds.data.unsqueeze(1).contiguous()
    return ImageData(name, images, ds.targets.long(), list(ds.classes))


def _download(fetch, name: str, folder: Path, files: list[str]) -> None:
    try:
        fetch()
    except Exception as exc:
        reason = first_line(exc)
        raise DataError(
            f"{name} is not in {folder} and could not be downloaded ({reason}); "
            f"put {', '.join(files)} there, or point --data-dir / ${DATA_DIR_ENV} at a folder that has them"
        ) from None


def _load_cifar10(name: str, root: Path, train: bool) -> ImageData:
    cls = datasets.CIFAR10
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:  # torchvision: "Dataset not found or corrupted"
        _download(lambda: cls(str(root), train=train, download=True), name, root, [cls.filename, cls.base_folder + "/"])
        ds = cls(str(root), train=train, download=False)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return ImageData(name, images, torch.tensor(ds.targets, dtype=torch.long), list(ds.classes))


# -- ImageFolder: users' own images, one sub-folder per class --------------------------
def _load_image_folder(name: str, root: Path, train: bool, channels: int, image_size: int) -> ImageData:
    split = root / ("train" if train else "test")
    folder = split if split.is_dir() else root
    if not train and folder == root:
        raise DataError(f"{root} has no test/ sub-folder: an image-folder test split lives in {split}")
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist: it must hold one sub-folder per class")
    try:
        ds = datasets.ImageFolder(str(folder))
    except (FileNotFoundError, OSError) as exc:
        raise DataError(f"image folder {folder}: {exc}") from None
    mode = "L" if channels == 1 else "RGB"
    images = torch.empty(len(ds.samples), channels, image_size, image_size, dtype=torch.uint8)
    for i, (path, _) in enumerate(ds.samples):
        try:
            picture = ds.loader(path).convert(mode)
        except Exception as exc:
            raise DataError(f"{path} is not a readable image ({type(exc).__name__}); remove it or fix it") from None
        tensor = TF.pil_to_tensor(picture)
        tensor = TF.resize(tensor, [image_size], antialias=True)
        images[i] = TF.center_crop(tensor, [image_size, image_size])
    labels = torch.tensor(ds.targets, dtype=torch.long)
    return ImageData(name, images, labels, list(ds.classes))


def mnist(root: Path, *, train: bool) -> ImageData:
    return _load_idx(datasets.MNIST, "mnist", root, train)


def fashion_mnist(root: Path, *, train: bool) -> ImageData:
    return _load_idx(datasets.FashionMNIST, "fashion-mnist", root, train)


def cifar10(root: Path, *, train: bool) -> ImageData:
    return _load_cifar10("cifar10", root, train)


def image_folder(root: Path, *, train: bool, channels: int, image_size: int) -> ImageData:
    return _load_image_folder("imagefolder", root, train, channels, image_size)


BUILTIN = {
    "mnist": (mnist, "MNIST handwritten digits, 28x28 grey, 10 classes (torchvision)"),
    "fashion-mnist": (fashion_mnist, "Fashion-MNIST clothing, 28x28 grey, 10 classes (torchvision)"),
    "cifar10": (cifar10, "CIFAR-10 photographs, 32x32 colour, 10 classes (torchvision)"),
    "imagefolder": (image_folder, "your own images: DATA_DIR/CLASS/*.png (or train/ and test/ sub-folders)"),
}
