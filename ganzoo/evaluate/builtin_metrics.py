"""The evaluator's own metrics, registered by ganzoo's built-in plugin like any other."""

from __future__ import annotations

from typing import Any

import torch

from ..data import ImageData
from ..speed import plan_speed
from .classifier import FEATURE_DIM, classify, train_classifier
from .inception import InceptionUnavailable, inception_features, logits_of
from .metric_api import Metric, MetricInputs
from .metrics import (class_accuracy, class_distribution, feature_statistics, frechet_between, frechet_distance,
                      intra_class_fid)
from .set_metrics import density_coverage, inception_style_score, kid, precision_recall

CLASSIFIER_EXTRACTOR = f"ganzoo EvalClassifier penultimate layer ({FEATURE_DIM}-d)"
INCEPTION_EXTRACTOR = "pytorch-fid InceptionV3, pool3 (2048-d), TF FID weights"


def _real_words(inputs: MetricInputs) -> str:
    split = getattr(inputs.reference, "real_split", None) or {}
    return {"test": "real test images", "train": "real training images"}.get(split.get("split", "test"),
                                                                            "held-out real images")


def _sets(inputs: MetricInputs) -> str:
    return f"{len(inputs.generated)} generated vs {len(inputs.real_images)} {_real_words(inputs)}"


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


def _inception_subset(inputs: MetricInputs) -> torch.Tensor:
    """Indices of up to ``fid_n`` generated images, evenly spread so every class keeps its share."""
    fid_n = int(inputs.options.get("fid_n", 10000))
    return torch.linspace(0, len(inputs.generated) - 1, steps=min(fid_n, len(inputs.generated))).round().long().unique()


def _inception_entry(inputs: MetricInputs) -> dict[str, Any]:
    n = len(_inception_subset(inputs))
    return {"feature_extractor": INCEPTION_EXTRACTOR, "n_generated": n,
            "sets": f"{n} generated vs {len(inputs.real_images)} {_real_words(inputs)}", "value": None}


def generated_inception_features(inputs: MetricInputs):
    """Inception pool features of the generated subset, computed once per evaluation and
    shared by Inception FID and the Inception Score; or the reason they are unavailable."""
    reference = inputs.reference
    inception = reference.inception()
    if isinstance(inception, str):
        return inception
    memo = getattr(reference, "generated_inception", None)
    if memo is None or memo[0] is not inputs.generated:
        index = _inception_subset(inputs)
        features = inception_features(inception[0], inputs.generated[index], inputs.device,
                                      progress=reference.progress, what="generated images")
        memo = (inputs.generated, features)
        reference.generated_inception = memo
    return memo[1]


def inception_fid(inputs: MetricInputs) -> dict[str, Any]:
    entry = _inception_entry(inputs)
    features = generated_inception_features(inputs)
    if isinstance(features, str):
        return {**entry, "status": "unavailable", "reason": features}
    _, mu_real, sigma_real, stats_path, cached = inputs.reference.inception()
    value = frechet_distance(*feature_statistics(features), mu_real, sigma_real)
    return {**entry, "status": "ok", "value": value, "reason": None, "reference_stats": str(stats_path),
            "reference_stats_cached": cached}


def inception_score(inputs: MetricInputs) -> dict[str, Any]:
    """The Inception Score (Salimans et al. 2016, 10 splits) on the 1008-way logits of the
    same TF Inception weights as FID (as torch-fidelity computes it)."""
    entry = {**_inception_entry(inputs), "classifier": "pytorch-fid InceptionV3 (TF FID weights), 1008 logits"}
    entry.pop("feature_extractor")
    features = generated_inception_features(inputs)
    if isinstance(features, str):
        return {**entry, "status": "unavailable", "reason": features}
    try:
        logits = logits_of(features)
    except InceptionUnavailable as exc:
        return {**entry, "status": "unavailable", "reason": str(exc)}
    return {**entry, **inception_style_score(logits.softmax(1)), "status": "ok", "reason": None}


def classification_accuracy_score(inputs: MetricInputs) -> dict[str, Any]:
    """CAS (Ravuri & Vinyals 2019): the judge's architecture, trained with the judge's own
    recipe but only on the generated, labelled images, tested on the real test split;
    beside it the same classifier trained on the real training split (the judge: the
    ceiling)."""
    reference, judge = inputs.reference, inputs.reference.judge
    generated = ImageData("generated", inputs.generated, inputs.labels, inputs.class_names)
    # the machine's fast path (bf16 where it pays, channels-last), not the pinned judges' fp32
    # NCHW on one thread for bit-exactness, which would make CAS 2-3x slower
    speed = {"precision": "auto", "channels_last": "auto"}
    plan = plan_speed({**speed, "cuda_graph": "off"}, inputs.device)
    model = train_classifier(generated, inputs.device, steps=judge.steps, progress=reference.progress,
                             what="the CAS classifier on generated images", **speed)
    test = reference.test  # always the judge's test images, whatever the other metrics compare against
    predicted, _ = classify(model, test.images, inputs.device)
    per_class = class_accuracy(predicted, test.labels, len(inputs.class_names))
    value = float((predicted == test.labels).double().mean())
    return {"value": value, "per_class": per_class["per_class"], "min": per_class["min"],
            "real_data_accuracy": judge.test_accuracy, "ratio_to_real": value / judge.test_accuracy
            if judge.test_accuracy else None, "train_images": len(inputs.generated), "steps": judge.steps,
            "precision": plan.precision, "channels_last": plan.channels_last,
            "classifier": "ganzoo EvalClassifier (the judge's architecture and training recipe)"}


def on_judge_features(formula):
    """A set metric of the generated and real images in the judge's feature space."""

    def compute(inputs: MetricInputs) -> dict[str, Any]:
        return {**formula(inputs.fake_features, inputs.real_features), "feature_extractor": CLASSIFIER_EXTRACTOR,
                "sets": _sets(inputs)}

    compute.__module__, compute.__qualname__ = formula.__module__, formula.__qualname__  # its provenance
    return compute


def on_inception_features(formula):
    """The same set metric in Inception's feature space (the ``--fid-n`` generated subset vs
    the real images), where the weights exist."""

    def compute(inputs: MetricInputs) -> dict[str, Any]:
        entry = _inception_entry(inputs)
        fake, real = generated_inception_features(inputs), inputs.reference.real_inception_features()
        if isinstance(fake, str) or isinstance(real, str):
            return {**entry, "status": "unavailable", "reason": fake if isinstance(fake, str) else real}
        return {**entry, **formula(torch.from_numpy(fake), torch.from_numpy(real)), "status": "ok", "reason": None}

    compute.__module__, compute.__qualname__ = formula.__module__, formula.__qualname__
    return compute


def classifier_score(inputs: MetricInputs) -> dict[str, Any]:
    """The Inception Score's formula on the judge's class probabilities (TF-GAN's
    "classifier score" for MNIST)."""
    head = inputs.reference.judge.model.head.eval()
    weight = next(head.parameters())

    def probabilities(features: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return head(features.to(device=weight.device, dtype=weight.dtype)).float().softmax(1).cpu()

    real = inception_style_score(probabilities(inputs.reference.judged_test.features))  # the judge's test images
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
    Metric("classifier-fid", classifier_fid, label="classifier FID", min_images=2,
           description="Fréchet distance of generated and real images (the test split, or --real-split train) in the "
           "judge's feature space"),
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
           description="kernel distance (unbiased MMD^2, cubic polynomial kernel) of generated and real images "
           "in the judge's feature space, over 100 subsets; x 1000, mean ± std",
           headline=lambda r: None if r.get("value") is None else r["value"] * 1000.0,  # as the label says
           summary=lambda r: _plus_minus(r, 1000.0)),
    Metric("precision-recall", on_judge_features(precision_recall), label="precision / recall", better="higher",
           min_images=4,
           description="share of generated images inside the real images' k=3 nearest-neighbour manifold (precision) "
           "and of real images inside the generated one (recall), in the judge's feature space",
           summary=_pair("precision", "recall")),
    Metric("density-coverage", on_judge_features(density_coverage), label="density / coverage", better="higher",
           min_images=6,
           description="how many real k=5 neighbourhoods hold a generated image, over k (density, 1 when alike), "
           "and the share of real neighbourhoods holding one (coverage), in the judge's feature space",
           headline=lambda r: r.get("coverage"), summary=_pair("density", "coverage")),
    Metric("classifier-score", classifier_score, label="classifier score", better="higher",
           description="the Inception Score's formula on the judge's class probabilities, 10 splits, mean ± std "
           "(1 to the number of classes; the real test split's own score beside it)",
           summary=lambda r: f"{_plus_minus(r)} (real {r['real_test_split']:.2f})"),
    Metric("cas", classification_accuracy_score, label="CAS (real ceiling)", better="higher", applies="conditional",
           features="none", needs_judge=True,
           description="classification accuracy score: the judge's classifier trained only on the generated images, "
           "accuracy on the real test split; in brackets the same classifier trained on real images",
           summary=lambda r: f"{_percent(r['value'])} ({_percent(r['real_data_accuracy'])})"),
    Metric("inception-fid", inception_fid, label="Inception FID", features="inception", min_images=2,
           description="FID in pytorch-fid's InceptionV3 feature space (needs its weights file)",
           headline=lambda r: r["value"] if r.get("status") == "ok" else None, summary=_inception_summary),
    Metric("inception-kid", on_inception_features(kid), label="Inception KID x 10^3", features="inception",
           description="KID as above, on Inception's pool features (needs the Inception weights)",
           headline=lambda r: r["value"] * 1000.0 if r.get("status") == "ok" and r.get("value") is not None else None,
           summary=lambda r: _plus_minus(r, 1000.0) if r.get("status") == "ok" else "unavailable"),
    Metric("inception-precision-recall", on_inception_features(precision_recall), label="Inception precision / recall",
           min_images=4,
           better="higher", features="inception",
           description="precision and recall as above, on Inception's pool features (needs the Inception weights)",
           headline=lambda r: r["value"] if r.get("status") == "ok" else None,
           summary=lambda r: _pair("precision", "recall")(r) if r.get("status") == "ok" else "unavailable"),
    Metric("inception-density-coverage", on_inception_features(density_coverage), min_images=6,
           label="Inception density / coverage", better="higher", features="inception",
           description="density and coverage as above, on Inception's pool features (needs the Inception weights)",
           headline=lambda r: r.get("coverage") if r.get("status") == "ok" else None,
           summary=lambda r: _pair("density", "coverage")(r) if r.get("status") == "ok" else "unavailable"),
    Metric("inception-score", inception_score, label="Inception Score", better="higher", features="inception",
           description="the Inception Score on the TF Inception weights' 1008 logits, 10 splits, mean ± std "
           "(needs the same weights file as Inception FID)",
           headline=lambda r: r["value"] if r.get("status") == "ok" else None,
           summary=lambda r: _plus_minus(r) if r.get("status") == "ok" else "unavailable"),
)
