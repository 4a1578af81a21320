"""Metrics that compare the generated and the real set as samples in a feature space:
KID, precision / recall, density / coverage, and the Inception-style score of a
classifier's probabilities. Features are ``(N, D)`` tensors (float64 preferred); every
function is deterministic for a given ``seed``."""

from __future__ import annotations

import math
from typing import Any

import torch


# -- KID -----------------------------------------------------------------------------------
def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """KID's kernel (Bińkowski et al. 2018): k(x, y) = (x.y / d + 1)^3."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased estimator of MMD^2 with the cubic polynomial kernel: the within-set
    means leave out the diagonal (m(m-1) and n(n-1) pairs)."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())


def kid(fake: torch.Tensor, real: torch.Tensor, *, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> dict[str, Any]:
    """Kernel Inception Distance: MMD^2 over ``subsets`` random subsets of ``subset_size``
    from each set (the size is capped by the smaller set); mean and standard deviation."""
    size = min(subset_size, len(fake), len(real))
    if size < 2:
        return {"value": None, "reason": "fewer than 2 images in a set"}
    g = torch.Generator().manual_seed(seed)
    fake, real = fake.double(), real.double()
    values = [mmd2_unbiased(fake[torch.randperm(len(fake), generator=g)[:size]],
                            real[torch.randperm(len(real), generator=g)[:size]]) for _ in range(subsets)]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {"value": mean, "std": std, "subsets": subsets, "subset_size": size}


# -- nearest-neighbour manifolds -------------------------------------------------------------
def equal_sizes(fake: torch.Tensor, real: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets cut to the smaller one's size by a seeded random subset: nearest-neighbour
    radii shrink as a set grows, so the papers compare sets of equal size."""
    n = min(len(fake), len(real))
    g = torch.Generator().manual_seed(seed)
    pick = lambda x: x if len(x) == n else x[torch.randperm(len(x), generator=g)[:n]]  # noqa: E731
    return pick(fake).double(), pick(real).double()


def _pairwise(a: torch.Tensor, b: torch.Tensor, rows: int = 1024):
    """Yield ``(start, distances of a[start:start+rows] to all of b)``, in row chunks."""
    for start in range(0, len(a), rows):
        yield start, torch.cdist(a[start:start + rows], b)


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Each point's distance to its k-th nearest neighbour in its own set (itself left out)."""
    radii = torch.empty(len(features), dtype=features.dtype)
    for start, d in _pairwise(features, features):
        radii[start:start + len(d)] = d.kthvalue(k + 1, dim=1).values  # the 1st is the point itself
    return radii


def _inside_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, how many balls B(centre, radius) hold it."""
    counts = torch.zeros(len(points), dtype=torch.long)
    for start, d in _pairwise(points, centres):
        counts[start:start + len(d)] = (d <= radii[None, :]).sum(1)
    return counts


def precision_recall(fake: torch.Tensor, real: torch.Tensor, *, k: int = 3) -> dict[str, Any]:
    """Improved precision and recall (Kynkäänniemi et al. 2019), on sets of equal size:
    precision, the share of
    generated images inside the real manifold (the union of balls around each real image
    reaching its k-th nearest real neighbour); recall, the share of real images inside
    the generated manifold."""
    if min(len(fake), len(real)) <= k:
        return {"value": None, "reason": f"fewer than {k + 1} images in a set"}
    fake, real = equal_sizes(fake, real)
    precision = float((_inside_counts(fake, real, knn_radii(real, k)) > 0).double().mean())
    recall = float((_inside_counts(real, fake, knn_radii(fake, k)) > 0).double().mean())
    return {"value": precision, "precision": precision, "recall": recall, "k": k, "images_per_set": len(fake)}


def density_coverage(fake: torch.Tensor, real: torch.Tensor, *, k: int = 5) -> dict[str, Any]:
    """Density and coverage (Naeem et al. 2020), on sets of equal size, with balls around
    the real images only:
    density, the mean number of real balls holding a generated image, over k (1 when the
    two sets are alike; above 1 when generated images crowd where real ones are dense);
    coverage, the share of real balls holding at least one generated image."""
    if min(len(fake), len(real)) <= k:
        return {"value": None, "reason": f"fewer than {k + 1} images in a set"}
    fake, real = equal_sizes(fake, real)
    radii = knn_radii(real, k)
    density = float(_inside_counts(fake, real, radii).double().mean() / k)
    covered = torch.zeros(len(real), dtype=torch.bool)
    for start, d in _pairwise(real, fake):
        covered[start:start + len(d)] = (d <= radii[start:start + len(d), None]).any(1)
    coverage = float(covered.double().mean())
    return {"value": coverage, "density": density, "coverage": coverage, "k": k, "images_per_set": len(fake)}


# -- Inception-style score -------------------------------------------------------------------
def inception_style_score(probabilities: torch.Tensor, *, splits: int = 10, seed: int = 0,
                          shuffle: bool = True) -> dict[str, Any]:
    """exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016), over ``splits`` equal parts of
    the set (shuffled first: an evaluation's set is ordered by class): mean and standard
    deviation. From 1 (every image the same class mix) to the number of classes (each
    image one confident class, all classes equally often)."""
    p = probabilities.double().clamp_min(1e-12)
    if shuffle:
        p = p[torch.randperm(len(p), generator=torch.Generator().manual_seed(seed))]
    splits = max(1, min(splits, len(p)))
    scores = []
    for part in torch.tensor_split(p, splits):
        marginal = part.mean(0, keepdim=True)
        scores.append(math.exp(float((part * (part.log() - marginal.log())).sum(1).mean())))
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return {"value": mean, "std": std, "splits": splits}
