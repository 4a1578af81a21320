"""The numbers of a report: per-class accuracy with its confusion matrix, and Fréchet
distances (pytorch-fid's own function) between feature sets."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import torch


def feature_statistics(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64), as pytorch-fid computes them."""
    array = features.numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    array = array.astype(np.float64)
    return array.mean(axis=0), np.cov(array, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The Fréchet distance of two Gaussians, by pytorch-fid's implementation."""
    from pytorch_fid import fid_score  # start-up: pytorch-fid imports torchvision and SciPy (1.8 s)
    from scipy.linalg import LinAlgWarning  # with pytorch-fid's, at first use

    _fit_pytorch_fid_to_scipy(fid_score)
    with warnings.catch_warnings():
        # a near-singular product is expected for small sets; pytorch-fid corrects it itself
        warnings.simplefilter("ignore", category=LinAlgWarning)
        warnings.filterwarnings("ignore", message=".*disp.*deprecated", category=DeprecationWarning)
        # a constant generator's covariance is all zeros: sqrtm's error estimate divides 0 by 0
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"scipy\.linalg.*")
        return float(fid_score.calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


class _SqrtmWithDisp:
    """scipy.linalg as pytorch-fid 0.3.0 expects it: ``sqrtm(A, disp=False)`` returning
    ``(root, error estimate)``. SciPy 1.18 removed ``disp`` (pytorch-fid's calls then
    fail with a TypeError); every other attribute is scipy.linalg's own."""

    def __init__(self, linalg: Any):
        self._linalg = linalg

    def __getattr__(self, name: str) -> Any:
        return getattr(self._linalg, name)

    def sqrtm(self, matrix: np.ndarray, disp: bool = True, **kwargs: Any) -> Any:
        root = self._linalg.sqrtm(matrix, **kwargs)
        if isinstance(root, tuple):
            root = root[0]
        return root if disp else (root, None)


def _fit_pytorch_fid_to_scipy(fid_score: Any) -> None:
    linalg = fid_score.linalg
    if isinstance(linalg, _SqrtmWithDisp):
        return
    try:
        takes_disp = "disp" in inspect.signature(linalg.sqrtm).parameters
    except (TypeError, ValueError):
        takes_disp = True
    if not takes_disp:
        fid_score.linalg = _SqrtmWithDisp(linalg)


def frechet_between(a: torch.Tensor, b: torch.Tensor) -> float:
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


def intra_class_fid(
    fake_features: torch.Tensor, fake_labels: torch.Tensor, real_features: torch.Tensor, real_labels: torch.Tensor,
    num_classes: int,
) -> dict[str, Any]:
    """FID per class, each class's samples against the real images of that class."""
    per_class = []
    for k in range(num_classes):
        fake_k, real_k = fake_features[fake_labels == k], real_features[real_labels == k]
        per_class.append(frechet_between(fake_k, real_k) if min(len(fake_k), len(real_k)) > 1 else float("nan"))
    finite = [v for v in per_class if np.isfinite(v)]
    return {"per_class": per_class, "mean": float(np.mean(finite)) if finite else float("nan")}


def class_accuracy(predicted: torch.Tensor, wanted: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """How often the judge sees the class a sample was conditioned on: per class, mean,
    minimum, and the confusion matrix (rows: conditioned class, columns: judged class)."""
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((wanted.long(), predicted.long()), torch.ones_like(wanted, dtype=torch.long), accumulate=True)
    totals = confusion.sum(1).clamp(min=1)
    per_class = (confusion.diag().double() / totals).tolist()
    return {
        "per_class": per_class,
        "mean": float(np.mean(per_class)),
        "min": float(np.min(per_class)),
        "overall": float((predicted == wanted).double().mean()),
        "confusion": confusion.tolist(),
    }


def class_distribution(predicted: torch.Tensor, num_classes: int) -> list[float]:
    """The share of samples the judge puts in each class (for unconditional models)."""
    counts = torch.bincount(predicted.long(), minlength=num_classes).double()
    return (counts / counts.sum().clamp(min=1)).tolist()
