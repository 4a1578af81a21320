"""Classifier metrics of a generator: what ``ganzoo evaluate``, ``eval_every`` during
training and the quality benchmark all compute, the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..contracts import Generator
from ..data import ImageData
from ..generation import generate
from .classifier import Judge, classify, get_judge
from .metrics import class_accuracy, class_distribution, frechet_between, intra_class_fid


@dataclass
class RealFeatures:
    """The judge's view of a real split, computed once per evaluation."""

    features: torch.Tensor
    labels: torch.Tensor
    accuracy: float

    @classmethod
    def of(cls, judge: Judge, data: ImageData, device: torch.device) -> "RealFeatures":
        predicted, features = classify(judge.model, data.images, device)
        return cls(features, data.labels, float((predicted == data.labels).double().mean()))


@dataclass
class GeneratedSet:
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor | None  # conditioning labels, None for unconditional models
    seed: int | None  # None for images ganzoo did not make


def generate_set(generator: Generator, num_classes: int, n_per_class: int, *, seed: int, device: torch.device) -> GeneratedSet:
    """``n_per_class`` samples of every class (or ``n_per_class * K`` unconditional ones)."""
    was_training = generator.training
    generator.eval()
    try:
        if generator.conditional:
            labels = torch.arange(num_classes).repeat_interleave(n_per_class)
            images = generate(generator, labels, seed=seed, device=device)
        else:
            labels = None
            images = generate(generator, torch.zeros(n_per_class * num_classes, dtype=torch.long), seed=seed, device=device)
    finally:
        generator.train(was_training)
    return GeneratedSet(images, labels, seed)


def classifier_metrics(samples: GeneratedSet, judge: Judge, real: RealFeatures, device: torch.device) -> dict[str, Any]:
    """Per-class accuracy (or the class distribution), classifier FID, intra-class FID: the
    cheap metrics that ``eval_every`` computes during training."""
    num_classes = len(judge.class_names)
    predicted, features = classify(judge.model, samples.images, device)
    out: dict[str, Any] = {"classifier_fid": frechet_between(features, real.features)}
    if samples.labels is not None:
        out["accuracy"] = class_accuracy(predicted, samples.labels, num_classes)
        out["intra_class_fid"] = intra_class_fid(features, samples.labels, real.features, real.labels, num_classes)
    else:
        out["class_distribution"] = class_distribution(predicted, num_classes)
    return out


class PeriodicEvaluator:
    """The cheap classifier metrics, run by the trainer every ``eval_every`` steps."""

    def __init__(self, judge: Judge, real: RealFeatures, *, n_per_class: int, device: torch.device, seed: int = 0):
        self.judge, self.real, self.n_per_class, self.device, self.seed = judge, real, n_per_class, device, seed

    def __call__(self, generator: Generator) -> dict[str, Any]:
        samples = generate_set(generator, len(self.judge.class_names), self.n_per_class, seed=self.seed, device=self.device)
        metrics = classifier_metrics(samples, self.judge, self.real, self.device)
        out: dict[str, Any] = {"classifier_fid": metrics["classifier_fid"], "n_generated": len(samples.images)}
        if "accuracy" in metrics:
            out["accuracy_mean"] = metrics["accuracy"]["mean"]
            out["accuracy_min"] = metrics["accuracy"]["min"]
            out["intra_class_fid"] = metrics["intra_class_fid"]["mean"]
        return out


def periodic_evaluator(train: ImageData, test: ImageData, *, n_per_class: int, device: torch.device,
                       progress: bool = True) -> PeriodicEvaluator:
    judge = get_judge(train, test, device, progress=progress)
    return PeriodicEvaluator(judge, RealFeatures.of(judge, test, device), n_per_class=n_per_class, device=device)
