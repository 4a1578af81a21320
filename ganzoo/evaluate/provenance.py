"""Where each number of a report comes from, and when it is too thin to mean much.

A metric's value depends on its implementation, the feature extractor and its weights,
the resize before it, N on both sides, the real split and the seed: FID moves by more
between two protocols than between most models. Every metric entry of report.json gets a
``provenance`` block with all of these, and the report a warning for each number whose N
is too small for it.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

from .classifier import FEATURE_DIM as JUDGE_DIM
from .inception import FEATURE_DIM as INCEPTION_DIM
from .inception import weights_path

INCEPTION_RESIZE = ("pytorch-fid's bilinear resize to 299x299 inside InceptionV3 (resize_input=True), "
                    "grey images repeated to three channels, pixels scaled to [0, 1]")
STANDARD_FID_N = 10000  # the N at which the field reports FID on these datasets


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    """Top-level module -> distributions; it reads every installed distribution's file
    list (about 0.4 s), so once per process."""
    return metadata.packages_distributions()


@functools.lru_cache(maxsize=None)
def implementation(module: str, qualname: str) -> str:
    """``distribution version: module.function`` of a metric's code."""
    top = module.split(".")[0]
    try:
        dists = _distributions().get(top, [])
        owner = f"{dists[0]} {metadata.version(dists[0])}" if dists else top
    except metadata.PackageNotFoundError:
        owner = top
    return f"{owner}: {module}.{qualname}"


@functools.lru_cache(maxsize=8)
def file_sha256(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: str | Path | None) -> str | None:
    try:
        stat = Path(path).stat()
        return file_sha256(str(path), stat.st_size, stat.st_mtime)
    except (OSError, TypeError):
        return None


def provenance(metric: Any, result: dict[str, Any], samples: Any, reference: Any) -> dict[str, Any]:
    """The provenance block of one metric's entry."""
    n_generated, shape = len(samples.images), "x".join(str(d) for d in samples.images.shape[1:])
    block: dict[str, Any] = {
        "implementation": implementation(metric.compute.__module__, metric.compute.__qualname__),
        "n_generated": n_generated,
        "n_real": len(reference.real_images),
        "real_split": reference.real_split,
        "seed": samples.seed,
    }
    if metric.features == "judge":
        block.update(feature_extractor=reference.judge.describe()["name"] + f" ({JUDGE_DIM}-d penultimate layer)",
                     weights_sha256=reference.judge.sha256, resize=f"none: images at their own size ({shape})")
    elif metric.features == "inception":
        inception = reference.inception()
        block.update(feature_extractor=f"pytorch-fid InceptionV3 pool3 ({INCEPTION_DIM}-d)", resize=INCEPTION_RESIZE)
        if not isinstance(inception, str):
            block["weights_sha256"] = sha256_of(weights_path())
            block["n_generated"] = int(result.get("n_generated", n_generated))
            if result.get("reference_stats"):
                block["reference_stats_sha256"] = sha256_of(result["reference_stats"])
    return block


def sample_size_warnings(results: dict[str, Any], samples: Any, reference: Any) -> list[str]:
    """A line for each number whose N is too small for it to mean much."""
    warnings = []
    n_fake, n_real = len(samples.images), len(reference.real_images)
    if "classifier_fid" in results and min(n_fake, n_real) <= JUDGE_DIM:
        warnings.append(f"classifier FID from {min(n_fake, n_real)} images of one set: its {JUDGE_DIM}-d covariance "
                        "has rank below its dimension, so the number is unstable; generate more (--n)")
    if "intra_class_fid" in results and samples.labels is not None:
        fake_counts = samples.labels.bincount(minlength=len(reference.class_names))
        real_counts = reference.real_images.labels.bincount(minlength=len(reference.class_names))
        smallest = int(min(fake_counts.min(), real_counts.min()))
        if smallest <= JUDGE_DIM:
            warnings.append(f"intra-class FID from as few as {smallest} images of a class: a {JUDGE_DIM}-d covariance "
                            "of rank below its dimension, so the per-class numbers are unstable")
    entry = results.get("inception_fid")
    if entry and entry.get("status") == "ok":
        n = int(entry.get("n_generated", n_fake))
        if n <= INCEPTION_DIM:
            warnings.append(f"Inception FID from {n} generated images: its {INCEPTION_DIM}-d covariance has rank "
                            "below its dimension; the number is not comparable to any published one")
        elif n < STANDARD_FID_N:
            warnings.append(f"Inception FID from {n} generated images (the field uses {STANDARD_FID_N:,} or 50,000): "
                            "FID is biased upward at small N, so compare it only with numbers at the same N")
    for key, label in (("precision_recall", "precision / recall"), ("density_coverage", "density / coverage")):
        per_set = (results.get(key) or {}).get("images_per_set")
        if per_set is not None and per_set < 1000:
            warnings.append(f"{label} from {per_set} images per set: nearest-neighbour radii depend on N, so these "
                            "numbers compare only at the same N (the papers use 10,000 or more)")
    kid = results.get("kid") or {}
    if kid.get("subset_size") is not None and kid["subset_size"] < 100:
        warnings.append(f"KID over subsets of {kid['subset_size']} images: unbiased, but its std is large at this N")
    return warnings
