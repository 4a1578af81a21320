"""Datasets as whole uint8 tensors: name -> images (N, C, H, W), labels (N,), class names.

The whole split is read once (torchvision's own readers, or PIL for an ImageFolder),
brought to the recipe's channels and image size, and kept as uint8; the trainer moves it
to the training device and draws batches by index, with no per-sample transforms.

Torchvision data sets are downloaded into the data root when missing. Offline, the
error says which folder was searched and which files belong there.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision import datasets
from torchvision.datasets.utils import extract_archive
from torchvision.transforms.v2 import functional as TF

from .errors import DataError, UsageError, did_you_mean, first_line

DATA_DIR_ENV = "GANZOO_DATA_DIR"


@dataclass
class ImageData:
    """A dataset split held in memory."""

    name: str
    images: torch.Tensor  # uint8, (N, C, H, W)
    labels: torch.Tensor  # int64, (N,)
    class_names: list[str]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def cache_dir() -> Path:
    """ganzoo's cache folder (``$XDG_CACHE_HOME/ganzoo``, else ``~/.cache/ganzoo``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ganzoo"


def default_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``--data-dir``, else ``$GANZOO_DATA_DIR``, else ``<cache>/data``."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return cache_dir() / "data"


# -- torchvision IDX data sets (MNIST, Fashion-MNIST) ----------------------------------
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
        raise DataError(f"cannot read {name} in {ready / cls.__name__ / 'raw'}: {exc}") from None
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


DATASETS = ("mnist", "fashion-mnist", "cifar10", "imagefolder")


def to_shape(images: torch.Tensor, channels: int, image_size: int) -> torch.Tensor:
    """Bring uint8 images to ``channels`` and a square ``image_size`` (once, at load)."""
    if images.shape[1] != channels:
        if channels == 3:
            images = images.expand(-1, 3, -1, -1)
        else:
            images = TF.rgb_to_grayscale(images)
    if images.shape[-1] != image_size or images.shape[-2] != image_size:
        images = TF.resize(images, [image_size, image_size], antialias=True)
    return images.contiguous()


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    train: bool = True,
    channels: int | None = None,
    image_size: int | None = None,
) -> ImageData:
    """Load a whole split of a dataset as uint8 tensors on the CPU."""
    root_path = default_data_dir(root)
    if name == "mnist":
        data = _load_idx(datasets.MNIST, name, root_path, train)
    elif name == "fashion-mnist":
        data = _load_idx(datasets.FashionMNIST, name, root_path, train)
    elif name == "cifar10":
        data = _load_cifar10(name, root_path, train)
    elif name == "imagefolder":
        data = _load_image_folder(name, root_path, train, channels or 3, image_size or 32)
    else:
        raise UsageError(f"unknown dataset {name!r}{did_you_mean(name, DATASETS)}")
    if len(data) == 0:
        raise DataError(f"{name} in {root_path} holds no images")
    if channels is not None and image_size is not None:
        data.images = to_shape(data.images, channels, image_size)
    return data


def resolve_class(spec: str, class_names: list[str]) -> int:
    """A class given as an index or a name (case-insensitive; 'sneaker', 'ankle-boot', 'zero')."""
    spec = spec.strip()
    if spec.lstrip("-").isdigit():
        index = int(spec)
        if 0 <= index < len(class_names):
            return index
    else:
        wanted = slug(spec)
        for index, class_name in enumerate(class_names):
            if wanted in _aliases(class_name):
                return index
    listing = ", ".join(f"{i}={n}" for i, n in enumerate(class_names))
    raise UsageError(f"class {spec!r} does not exist; valid classes: {listing}")


def slug(text: str) -> str:
    """Lower-case words joined by dashes: 'Ankle boot' -> 'ankle-boot', 'T-shirt/top' -> 't-shirt-top'."""
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _aliases(class_name: str) -> set[str]:
    aliases = {slug(class_name)}
    aliases.update(slug(part) for part in class_name.split(" - "))  # MNIST: '7 - seven'
    return aliases


__all__ = ["ImageData", "load_dataset", "resolve_class", "default_data_dir", "cache_dir", "slug"]
