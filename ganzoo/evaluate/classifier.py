"""The evaluation classifier: the judge of per-class accuracy and the feature extractor of
classifier FID.

A small CNN trained by ganzoo on the real training split of a recipe's dataset, once per
(dataset contents, image shape, classifier version), and cached as a plain state dict in
``<cache>/classifiers/``. Its own accuracy on the real test split is stored with it and
printed in every report: a judge whose reliability is not shown proves nothing.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .. import cores
from ..classes import slug
from ..data import ImageData, cache_dir
from ..deferred import optimizer_imports
from ..errors import CheckpointError, DataError, UsageError
from ..machine import keep_freed_memory
from ..runs.checkpoint import load_checkpoint, save_checkpoint
from ..runs.seal import weights_sha256
from ..speed import plan_speed
from ..waiting import said_if_slow
from .pinned import PinnedJudge, pinned_judge_for

CLASSIFIER_VERSION = 1
FEATURE_DIM = 128
TRAIN_STEPS = 2000
BATCH_SIZE = 128
JUDGE_STEPS_ENV = "GANZOO_JUDGE_STEPS"


class EvalClassifier(nn.Module):
    """Two conv blocks (each two 3x3 convs, BatchNorm, ReLU, max-pool), then a 128-d
    penultimate layer (the features of classifier FID) and the class logits."""

    def __init__(self, *, channels: int = 1, image_size: int = 28, num_classes: int = 10):
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]

        self.body = nn.Sequential(*block(channels, 32), *block(32, 64), nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.penultimate = nn.Sequential(nn.Dropout(0.3), nn.Linear(64 * 16, FEATURE_DIM), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, num_classes))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] -> (class logits, penultimate features)."""
        features = self.penultimate(self.body(images))
        return self.head(features), features


@dataclass
class Judge:
    """A trained evaluation classifier and what is known about it."""

    model: EvalClassifier
    test_accuracy: float
    class_names: list[str]
    key: str
    path: Path | None
    trained_now: bool
    steps: int = TRAIN_STEPS  # how long it trained: CAS trains its classifier as long
    sha256: str = ""  # its name in reports (runs.seal.weights_sha256)
    pinned: dict[str, Any] | None = None  # the manifest entry of a judge shipped with ganzoo

    def describe(self) -> dict[str, Any]:
        described = {
            "name": f"ganzoo EvalClassifier v{CLASSIFIER_VERSION}",
            "sha256": self.sha256,
            "source": "pinned (shipped with ganzoo)" if self.pinned else "trained on this machine",
            "feature_dim": FEATURE_DIM,
            "test_accuracy": self.test_accuracy,
            "cache_key": self.key,
            "training_steps": self.steps,
            "file": str(self.path) if self.path else None,
        }
        if self.pinned:
            described["pinned"] = {k: self.pinned[k] for k in ("file", "trained_on", "test_accuracy", "test_split",
                                                                "precision", "torch") if k in self.pinned}
        return described


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> floats in [-1, 1], the generators' range."""
    return images.float().div(127.5).sub(1.0)


def data_key(data: ImageData) -> str:
    """Names the exact training images: dataset, shape, count and a hash of the pixels."""
    digest = hashlib.sha1(data.images.numpy().tobytes())
    digest.update(data.labels.numpy().tobytes())
    c, h, w = data.images.shape[1:]
    return f"{slug(data.name)}-{c}x{h}x{w}-n{len(data)}-{digest.hexdigest()[:12]}-v{CLASSIFIER_VERSION}"


def _shift(images: torch.Tensor, generator: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Random translations of up to ``pixels`` (the one augmentation; digits and clothes
    are centred, so this is what the classifier must tolerate in generated images)."""
    padded = F.pad(images, [pixels] * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * pixels + 1, (2,), generator=generator).tolist()
    h, w = images.shape[-2:]
    return padded[..., dy : dy + h, dx : dx + w]


def train_classifier(
    train: ImageData, device: torch.device, *, steps: int = TRAIN_STEPS, seed: int = 0, progress: bool = True,
    what: str = "the evaluation classifier", precision: str = "auto", channels_last: str = "off",
) -> EvalClassifier:
    """The judge's recipe on ``train``. ``precision`` and ``channels_last`` as in a training
    recipe; judges keep channels-last off, so a judge retrained in fp32 on one thread is
    bitwise the one ganzoo ships (tests/bench/train_judges.py)."""
    torch.manual_seed(seed)
    _, c, h, _ = train.images.shape
    # bf16 where the hardware has it (the judge is used in fp32 afterwards).
    plan = plan_speed({"precision": precision, "channels_last": channels_last, "cuda_graph": "off"}, device)
    if plan.keep_freed_memory:
        keep_freed_memory()
    model = EvalClassifier(channels=c, image_size=h, num_classes=train.num_classes)
    model = model.to(device, memory_format=plan.memory_format)
    optimizer_imports()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    images, labels = train.images.to(device), train.labels.to(device)
    rng = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train), generator=rng)
    position = 0
    autocast = plan.autocast()
    model.train()
    with said_if_slow(f"training {what} ({steps:,} steps)", quiet=not progress):
        for _ in tqdm(range(steps), desc=f"training {what}", disable=not progress, file=sys.stderr,
                          mininterval=0.1 if sys.stderr.isatty() else 30.0):
            cores.poll()
            if position + BATCH_SIZE > len(order):
                order, position = torch.randperm(len(train), generator=rng), 0
            index = order[position : position + BATCH_SIZE].to(device)
            position += BATCH_SIZE
            x = _shift(to_unit_range(images[index]), rng)
            with autocast:
                logits, _ = model(x)
            loss = F.cross_entropy(logits.float(), labels[index], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


@torch.no_grad()
def classify(model: EvalClassifier, images: torch.Tensor, device: torch.device, batch_size: int = 500):
    """(predicted classes, penultimate features as float64) of uint8 images, in batches so
    memory stays bounded at any N."""
    predictions, features = [], []
    model.eval()
    for start in range(0, len(images), batch_size):
        cores.poll()
        batch = to_unit_range(images[start : start + batch_size].to(device))
        logits, feats = model(batch)
        predictions.append(logits.argmax(1).cpu())
        features.append(feats.double().cpu())
    return torch.cat(predictions), torch.cat(features)


def accuracy_of(model: EvalClassifier, data: ImageData, device: torch.device) -> float:
    predicted, _ = classify(model, data.images, device)
    return float((predicted == data.labels).float().mean())


def judge_steps() -> int:
    """``$GANZOO_JUDGE_STEPS`` (quick experiments, tests), else the classifier's own."""
    text = os.environ.get(JUDGE_STEPS_ENV, "").strip()
    if not text:
        return TRAIN_STEPS
    if not text.isdigit() or int(text) <= 0:
        raise UsageError(f"{JUDGE_STEPS_ENV} must be a positive whole number, got {text!r}")
    return int(text)


def no_judge_reason(class_names: list[str]) -> str | None:
    """Why data of these classes can have no judge, or None when they can."""
    if len(class_names) >= 2:
        return None
    return ("the data have one class, and a judge (a classifier) needs two or more to learn anything: "
            "the judge's metrics (classifier FID, KID, precision / recall, density / coverage, classifier score, "
            "CAS) do not apply; Inception's do")


def get_judge(
    train: ImageData, test: ImageData, device: torch.device, *, steps: int | None = None, progress: bool = True
) -> Judge:
    """The pinned judge of this dataset and shape when ganzoo ships one (and no step count
    is asked for), else the cached classifier for this training set, trained (and cached)
    if missing."""
    reason = no_judge_reason(train.class_names)
    if reason:
        raise DataError(f"{train.name}: {reason}")
    if steps is None and not os.environ.get(JUDGE_STEPS_ENV, "").strip():
        pinned = pinned_judge_for(train, CLASSIFIER_VERSION)
        if pinned is not None:
            return _pinned_judge(pinned, train, test, device)
    steps = steps or judge_steps()
    key = data_key(train) + ("" if steps == TRAIN_STEPS else f"-s{steps}")
    path = cache_dir() / "classifiers" / f"{key}.pt"
    _, c, h, _ = train.images.shape
    if path.is_file():
        try:
            payload = load_checkpoint(path)
            model = EvalClassifier(channels=c, image_size=h, num_classes=train.num_classes)
            model.load_state_dict(payload["generator"])
            return Judge(model.to(device).eval(), float(payload["test_accuracy"]), train.class_names, key, path, False,
                         steps, weights_sha256(model.state_dict()))
        except (CheckpointError, RuntimeError, KeyError, ValueError):
            print(f"ganzoo: cached classifier {path} is unreadable; training a new one", file=sys.stderr)
    model = train_classifier(train, device, steps=steps, progress=progress)
    accuracy = accuracy_of(model, test, device)
    payload = {
        "model": "eval-classifier",
        "generator": {k: v.cpu() for k, v in model.state_dict().items()},  # the checkpoint format's weights key
        "test_accuracy": accuracy,
        "config": {"key": key, "version": CLASSIFIER_VERSION, "class_names": train.class_names},
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, payload)
    except OSError:
        path = None  # an unwritable cache costs a retrain next time, nothing else
    return Judge(model, accuracy, train.class_names, key, path, True, steps, weights_sha256(model.state_dict()))


def _pinned_judge(pinned: PinnedJudge, train: ImageData, test: ImageData, device: torch.device) -> Judge:
    """The shipped judge, its accuracy measured on this machine's test split."""
    _, c, h, _ = train.images.shape
    model = EvalClassifier(channels=c, image_size=h, num_classes=train.num_classes)
    model.load_state_dict(pinned.load())
    model = model.to(device).eval()
    entry = pinned.entry
    return Judge(model, accuracy_of(model, test, device), train.class_names, f"pinned-{pinned.path.stem}",
                 pinned.path, False, int(entry["steps"]), entry["sha256"], entry)
