"""The evaluator's own metrics, registered by ganzoo's built-in plugin like any other."""

from __future__ import annotations

from typing import Any

import torch

from .classifier import FEATURE_DIM, classify
from .metric_api import Metric, MetricInputs
from .metrics import class_accuracy, class_distribution, feature_statistics, frechet_between, frechet_distance
from .metrics import intra_class_fid
from .set_metrics import density_coverage, inception_style_score, kid, precision_recall

CLASSIFIER_EXTRACTOR = f"ganzoo EvalClassifier penultimate layer ({FEATURE_DIM}-d)"
INCEPTION_EXTRACTOR = "pytorch-fid InceptionV3, pool3 (2048-d), TF FID weights"


def _sets(inputs: MetricInputs) -> str:
    return f"{len(inputs.generated)} generated vs {len(inputs.real_images)} real test images"


def accuracy(inputs: MetricInputs) -> dict[str, Any]:
    return class_accuracy(inputs.fake_predicted, inputs.labels, len(inputs.class_names))


def distribution(inputs: MetricInputs) -> dict[str, Any]:
    shares = class_distribution(inputs.fake_predicted, len(inputs.class_names))
    covered = sum(share >= 0.5 / len(shares) for share in shares)  # at least half a fair share
    return {"per_class": shares, "classes_covered": covered, "value": covered}


def classifier_fid(inputs: MetricInputs) -> dict[str, Any]:
    return {
        "value": frechet_between(inputs.fake_features, inputs.real_features),
        "floor": inputs.reference.classifier_floor(),
        "feature_extractor": CLASSIFIER_EXTRACTOR,
        "sets": _sets(inputs),
    }


def intra_fid(inputs: MetricInputs) -> dict[str, Any]:
    result = intra_class_fid(inputs.fake_features, inputs.labels, inputs.real_features, inputs.real_labels,
                             len(inputs.class_names))
    return {**result, "feature_extractor": CLASSIFIER_EXTRACTOR}


def inception_fid(inputs: MetricInputs) -> dict[str, Any]:
    from .inception import inception_features

    fake, reference = inputs.generated, inputs.reference
    fid_n = int(inputs.options.get("fid_n", 10000))
    # an even spread over the generated set, so every class keeps its share
    index = torch.linspace(0, len(fake) - 1, steps=min(fid_n, len(fake))).round().long().unique()
    entry: dict[str, Any] = {
        "feature_extractor": INCEPTION_EXTRACTOR,
        "sets": f"{len(index)} generated vs {len(inputs.real_images)} real test images",
        "value": None,
    }
    inception = reference.inception()
    if isinstance(inception, str):
        return {**entry, "status": "unavailable", "reason": inception}
    model, mu_real, sigma_real, stats_path, cached = inception
    features = inception_features(model, fake[index], inputs.device, progress=reference.progress,
                                  what="generated images")
    value = frechet_distance(*feature_statistics(features), mu_real, sigma_real)
    return {**entry, "status": "ok", "value": value, "reason": None, "reference_stats": str(stats_path),
            "reference_stats_cached": cached}


def on_judge_features(formula):
    """A set metric of the generated and real test images in the judge's feature space."""

    def compute(inputs: MetricInputs) -> dict[str, Any]:
        return {**formula(inputs.fake_features, inputs.real_features), "feature_extractor": CLASSIFIER_EXTRACTOR,
                "sets": _sets(inputs)}

    return compute


def classifier_score(inputs: MetricInputs) -> dict[str, Any]:
    """The Inception Score's formula on the judge's class probabilities (TF-GAN's
    "classifier score" for MNIST)."""
    head = inputs.reference.judge.model.head.eval()
    weight = next(head.parameters())

    def probabilities(features: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return head(features.to(device=weight.device, dtype=weight.dtype)).float().softmax(1).cpu()

    real = inception_style_score(probabilities(inputs.real_features))
    return {**inception_style_score(probabilities(inputs.fake_features)), "real_test_split": real["value"],
            "classifier": "ganzoo EvalClassifier (the judge)", "images": len(inputs.generated)}


def _pair(first: str, second: str):
    def summary(result: dict[str, Any]) -> str:
        if result.get(first) is None:
            return "-"
        return f"{result[first]:.3f} / {result[second]:.3f}"

    return summary


def _plus_minus(result: dict[str, Any], scale: float = 1.0, digits: int = 2) -> str:
    if result.get("value") is None:
        return "-"
    return f"{result['value'] * scale:.{digits}f} ± {result['std'] * scale:.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.1%}"


def _inception_summary(result: dict[str, Any]) -> str:
    return f"{result['value']:.2f}" if result.get("status") == "ok" else "unavailable"


BUILTIN_METRICS = (
    Metric("classifier-fid", classifier_fid, label="classifier FID",
           description="Fréchet distance of generated and real test images in the judge's feature space"),
    Metric("intra-fid", intra_fid, label="intra-class FID", key="intra_class_fid", applies="conditional",
           description="the mean over classes of each class's FID against the real images of that class",
           headline=lambda r: r["mean"]),
    Metric("accuracy", accuracy, label="accuracy mean / min", better="higher", applies="conditional",
           description="how often the judge sees the class a sample was conditioned on",
           headline=lambda r: r["mean"], summary=lambda r: f"{_percent(r['mean'])} / {_percent(r['min'])}"),
    Metric("class-distribution", distribution, label="classes covered", better="higher", applies="unconditional",
           description="classes that get at least half their fair share of the samples, by the judge",
           summary=lambda r: f"{r['classes_covered']}/{len(r['per_class'])}"),
    Metric("kid", on_judge_features(kid), label="KID x 10^3",
           description="kernel distance (unbiased MMD^2, cubic polynomial kernel) of generated and real test images "
           "in the judge's feature space, over 100 subsets; x 1000, mean ± std",
           summary=lambda r: _plus_minus(r, 1000.0)),
    Metric("precision-recall", on_judge_features(precision_recall), label="precision / recall", better="higher",
           description="share of generated images inside the real images' k=3 nearest-neighbour manifold (precision) "
           "and of real images inside the generated one (recall), in the judge's feature space",
           summary=_pair("precision", "recall")),
    Metric("density-coverage", on_judge_features(density_coverage), label="density / coverage", better="higher",
           description="how many real k=5 neighbourhoods hold a generated image, over k (density, 1 when alike), "
           "and the share of real neighbourhoods holding one (coverage), in the judge's feature space",
           headline=lambda r: r.get("coverage"), summary=_pair("density", "coverage")),
    Metric("classifier-score", classifier_score, label="classifier score", better="higher",
           description="the Inception Score's formula on the judge's class probabilities, 10 splits, mean ± std "
           "(1 to the number of classes; the real test split's own score beside it)",
           summary=lambda r: f"{_plus_minus(r)} (real {r['real_test_split']:.2f})"),
    Metric("inception-fid", inception_fid, label="Inception FID",
           description="FID in pytorch-fid's InceptionV3 feature space (needs its weights file)",
           headline=lambda r: r["value"] if r.get("status") == "ok" else None, summary=_inception_summary),
)


def judge_view(judge: Any, images: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes, features) of ``images`` by the judge."""
    return classify(judge.model, images, device)
