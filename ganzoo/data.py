"""Datasets as whole uint8 tensors: name -> images (N, C, H, W), labels (N,), class names.

A dataset is registered by a plugin (the built-in ones, mnist, fashion-mnist, cifar10 and
imagefolder, by ganzoo's own plugin: ``datasets.py``). The whole split is read once,
brought to the recipe's channels and image size, and kept as uint8; the trainer moves it
to the training device and draws batches by index, with no per-sample transforms.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .deferred import torchvision
from .errors import DataError, NoTestSplit
from .plugins import get_host
from .signatures import accepted
from .splits import HELD_OUT_EVERY, HELD_OUT_SPLIT, check_real_split

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


def to_shape(images: torch.Tensor, channels: int, image_size: int) -> torch.Tensor:
    """Bring uint8 images to ``channels`` and a square ``image_size`` (once, at load);
    torchvision is imported only when they need it."""
    if images.shape[1] != channels:
        if channels == 3:
            images = images.expand(-1, 3, -1, -1)
        else:
            images = torchvision("transforms.v2.functional").rgb_to_grayscale(images)
    if images.shape[-1] != image_size or images.shape[-2] != image_size:
        images = torchvision("transforms.v2.functional").resize(images, [image_size, image_size], antialias=True)
    return images.contiguous()


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    train: bool = True,
    channels: int | None = None,
    image_size: int | None = None,
) -> ImageData:
    """Load a whole split of a registered dataset as uint8 tensors on the CPU, brought to
    ``channels`` and ``image_size`` when they are given."""
    spec = get_host().datasets.get(name)
    root_path = default_data_dir(root)
    options = accepted(spec.load, {"train": train, "channels": channels or 3, "image_size": image_size or 32})
    data = spec.load(root_path, **options)
    if isinstance(data, tuple):
        images, labels, class_names = data
        data = ImageData(name, images, labels, list(class_names))
    if not isinstance(data, ImageData):
        raise DataError(f"dataset {name!r} loader returned {type(data).__name__}, not ImageData or "
                        "(images, labels, class_names)")
    _check_split(data, name, root_path)
    if channels is not None and image_size is not None:
        data.images = to_shape(data.images, channels, image_size)
    return data




@dataclass
class EvaluationData:
    """The real images of an evaluation: ``judge_train``, what the judge learns from;
    ``test``, the split it is tested on (and CAS with it); ``training``, the whole training
    split. ``held_out``: the dataset has no test split, so ``test`` is every tenth image of
    each class of the training split (which the generator trained on) and ``judge_train``
    the rest."""

    judge_train: ImageData
    test: ImageData
    training: ImageData
    held_out: bool = False

    @property
    def split_name(self) -> str:
        """The name of ``test`` in reports."""
        return HELD_OUT_SPLIT if self.held_out else "test"

    def real_side(self, real_split: str) -> tuple[str, ImageData]:
        """``(name, images)`` of what the metrics compare against: ``test`` (the test split,
        or the held-out tenth) or ``train`` (the whole training split, as papers' CIFAR-10
        FIDs do)."""
        check_real_split(real_split)
        return (self.split_name, self.test) if real_split == "test" else ("train", self.training)


def evaluation_data(name: str, root: str | os.PathLike | None = None, *, channels: int, image_size: int,
                    train: ImageData | None = None) -> EvaluationData:
    """The judge's training images, the real test split and the training split of a dataset
    (``train``: its training split, when already loaded). A dataset without a test split
    (its loader raises :class:`NoTestSplit`) gives a held-out tenth of the training split
    instead."""
    shape = {"channels": channels, "image_size": image_size}
    try:
        test: ImageData | None = load_dataset(name, root, train=False, **shape)
    except NoTestSplit:
        test = None
    training = train if train is not None else load_dataset(name, root, train=True, **shape)
    if test is None:
        rest, held = hold_out(training)
        return EvaluationData(rest, held, training, held_out=True)
    return EvaluationData(training, test, training)


def hold_out(data: ImageData, every: int = HELD_OUT_EVERY) -> tuple[ImageData, ImageData]:
    """``data`` split into (the rest, every ``every``-th image of each class), in order."""
    held = torch.zeros(len(data), dtype=torch.bool)
    for k, class_name in enumerate(data.class_names):
        index = (data.labels == k).nonzero().flatten()
        if len(index) < 2:
            raise DataError(f"{data.name}: class {class_name!r} has {len(index)} image(s); with no test split an "
                            f"evaluation holds out every {every}th image of each class, which needs at least 2 in "
                            "each class (or give the data a test split)")
        held[index[::every]] = True

    def part(mask: torch.Tensor) -> ImageData:
        return ImageData(data.name, data.images[mask].contiguous(), data.labels[mask], list(data.class_names))

    return part(~held), part(held)


def _check_split(data: ImageData, name: str, root: Path) -> None:
    if len(data) == 0:
        raise DataError(f"{name} in {root} holds no images")
    images, labels = data.images, data.labels
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise DataError(f"{name} in {root}: images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels.shape != (len(images),):
        raise DataError(f"{name} in {root}: {len(images)} images but {labels.numel()} labels")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= max(data.num_classes, 1)):
        raise DataError(f"{name} in {root}: labels outside 0..{data.num_classes - 1}")


def fingerprint(data: ImageData) -> dict[str, object]:
    """What identifies a split's contents: its name, number and shape of images, and a
    hash of every pixel and label (as the run trains on them, after resizing)."""
    digest = hashlib.sha256(data.images.contiguous().numpy().tobytes())
    digest.update(data.labels.numpy().tobytes())
    return {"dataset": data.name, "images": len(data), "shape": list(data.images.shape[1:]),
            "sha256": digest.hexdigest()[:16]}


def describe_fingerprint(fp: dict[str, object]) -> str:
    shape = "x".join(str(d) for d in fp.get("shape", []))
    return f"{fp.get('dataset')}, {fp.get('images')} images {shape}, sha256 {fp.get('sha256')}"


__all__ = ["EvaluationData", "ImageData", "cache_dir", "default_data_dir", "describe_fingerprint", "evaluation_data",
           "fingerprint", "hold_out", "load_dataset", "to_shape"]
