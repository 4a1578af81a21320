"""``ganzoo evaluate``: a checkpoint -> generated samples -> every metric -> a report folder."""

from __future__ import annotations

import functools
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..artifacts import find, load_generator, source_of
from ..cores import shared_cores
from ..data import default_data_dir, describe_fingerprint, evaluation_data, fingerprint
from ..device import resolve_device
from ..errors import UsageError, did_you_mean
from ..files import REPORT_LIMIT, check_folder_can_be_written, first_free, read_limited
from ..interpolate import interpolation_grid
from ..plugins import get_host
from ..runs.folder import RunFolder, metric_records, now_iso, recorded_data_dir
from ..splits import check_real_split, real_split_name
from ..zoo import model_owner
from .classifier import classify, data_key, get_judge, no_judge_reason
from .core import GeneratedSet, RealFeatures, generate_set
from .images import read_image_set
from .inception import InceptionUnavailable, load_inception, reference_features, reference_statistics
from .metric_api import Metric, MetricInputs
from .metrics import frechet_between
from .options import EvaluationOptions
from .provenance import provenance, sample_size_warnings
from .report import confusion_png, loss_curve_png, sample_grid_png, write_report


def registered_metrics() -> list[Metric]:
    """Every registered metric, in registration order (ganzoo's own first)."""
    return get_host().metrics.in_order()


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """``all`` (every registered metric) or a comma-separated list of metric names."""
    known = [metric.name for metric in registered_metrics()]
    if not text or text.strip() == "all":
        return tuple(known)
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in chosen:
        if name not in known:
            raise UsageError(f"unknown metric {name!r}{did_you_mean(name, known)} (metrics: {', '.join(known)})")
    return chosen


def check_counts(chosen: tuple[str, ...], images: int) -> None:
    """Refuse, before any work, metrics asked for that so few images cannot give (a
    Fréchet distance of one image was numpy's warnings, then scipy's LinAlgError)."""
    short = [metric for metric in registered_metrics() if metric.name in chosen and metric.min_images > images]
    if short:
        needs = ", ".join(f"{metric.name} needs {metric.min_images}" for metric in short)
        counted = "1 image is" if images == 1 else f"{images} images are"
        raise UsageError(f"{counted} too few: {needs}; give more, or leave those out with --metrics")


def package_versions(model: str | None = None) -> dict[str, str]:
    """Versions of Python, the numeric packages and the plugin distribution of ``model``."""
    versions = {"python": platform.python_version()}
    for name in ("torch", "torchvision", "pytorch-fid", "numpy", "scipy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    if model is not None:
        host = get_host()
        owner = model_owner(model)
        for info in host.plugins:
            if info.name == owner and info.distribution:
                versions[info.distribution] = info.version
    return versions


def report_folder(out: Path | None, run_dir: Path | None, step: int, force: bool) -> Path:
    """``--out`` (refused if it holds a report, unless --force), else a new
    ``RUN/reports/step_NNNNNNN[-N]``."""
    if out is not None:
        check_folder_can_be_written(out, "the report folder", "choose another --out")
        if (out / "report.json").exists() and not force:
            raise UsageError(f"{out} already holds a report; pass --force to overwrite it or choose another --out")
        return out
    folder = RunFolder(run_dir if run_dir is not None else Path.cwd()).report(step)
    check_folder_can_be_written(folder.parent, "the report folder", "pass --out to write the report elsewhere")
    return folder


class Reference:
    """Everything on the real side of an evaluation, computed once and shared by every
    generator compared against it: the data, the judge and its features of the real images
    the metrics compare against (``real_split``: ``test``, the real test split, or for data
    without one a held-out tenth of the training split; ``train``, the whole training
    split), the classifier-FID floor and (when the weights are present) the Inception
    statistics. The leaderboard evaluates every model against one Reference."""

    def __init__(self, settings: dict[str, Any], data_dir: Path | None, device: torch.device, progress: bool = True,
                 real_split: str = "test"):
        self.shape = {"channels": settings["channels"], "image_size": settings["image_size"]}
        self.dataset = settings["dataset"]
        self.root = default_data_dir(data_dir)
        self.device, self.progress = device, progress
        data = evaluation_data(self.dataset, self.root, **self.shape)
        self.train, self.test = data.judge_train, data.test  # the judge's training images, its test images
        self.test_split = data.split_name  # the judge's accuracy and CAS are measured there
        split_name, self.real_images = data.real_side(real_split)  # what every metric compares against
        self.other_images = data.test if real_split == "train" else data.judge_train  # the floor's other side
        self.class_names = list(self.test.class_names)
        self.real_split = {"split": split_name, **fingerprint(self.real_images)}
        self.no_judge = no_judge_reason(self.class_names)  # None, or why these data have no judge
        self._floor: float | None = None
        self._inception: tuple[Any, Any, Any, Path, bool] | str | None = None
        self.generated_inception: tuple[torch.Tensor, Any] | None = None  # the last generated set's features
        self._real_inception: Any = None

    @property
    def judge_learnt_from_real(self) -> bool:
        """Whether the judge was trained on the images the metrics compare against."""
        return self.real_images is not self.test

    def warnings(self) -> list[str]:
        """What a reader must know about this real side."""
        if self.judge is None or not self.judge_learnt_from_real:
            return []
        return ["the real images compared against are the training split, which the judge learnt from: the "
                "metrics in its feature space favour samples that copy training images (Inception's do not); "
                "the judge's accuracy and CAS are still measured on " + real_split_name({"split": self.test_split})]

    @functools.cached_property
    def judge(self):
        """The judge, loaded (or trained) on first use: bad input is refused before it. None
        for data of one class (``no_judge`` says why)."""
        if self.no_judge:
            return None
        return get_judge(self.train, self.test, self.device, progress=self.progress)

    @functools.cached_property
    def judged_test(self) -> RealFeatures | None:
        """The judge's view of its test images (its accuracy now, CAS's real side)."""
        return None if self.judge is None else RealFeatures.of(self.judge, self.test, self.device)

    @functools.cached_property
    def real(self) -> RealFeatures | None:
        """The judge's view of the real images the metrics compare against."""
        if self.judge is None or not self.judge_learnt_from_real:
            return self.judged_test
        return RealFeatures.of(self.judge, self.real_images, self.device)

    def applies(self, metric: Metric) -> bool:
        """Whether ``metric`` can be computed against this reference (data of one class have no judge)."""
        return self.judge is not None or not metric.needs_judge

    def fits(self, settings: dict[str, Any]) -> bool:
        """Whether a run trained on ``settings`` is judged by this reference."""
        return settings["dataset"] == self.dataset and all(settings[k] == v for k, v in self.shape.items())

    def classifier_floor(self) -> float | None:
        """Classifier FID of the other real split against the real images compared against
        (train vs test either way; None without a judge)."""
        if self._floor is None and self.judge is not None:
            _, other_features = classify(self.judge.model, self.other_images.images, self.device)
            self._floor = frechet_between(other_features, self.real.features)
        return self._floor

    def real_inception_features(self):
        """Inception features of the real images compared against (cached on disk), or why they are unavailable."""
        inception = self.inception()
        if isinstance(inception, str):
            return inception
        if self._real_inception is None:
            self._real_inception = reference_features(inception[0], self.real_images.images, data_key(self.real_images),
                                                      self.device, progress=self.progress)
        return self._real_inception

    def inception(self):
        """``(model, mu, sigma, stats path, cached)``, or the reason it is unavailable (a str)."""
        if self._inception is None:
            try:
                model = load_inception(self.device)
            except InceptionUnavailable as exc:
                print(f"ganzoo: Inception FID unavailable: {exc}", file=sys.stderr)
                self._inception = str(exc)
            else:
                real = self.real_images
                mu, sigma, path, cached = reference_statistics(model, real.images, data_key(real), self.device,
                                                               progress=self.progress)
                self._inception = (model, mu, sigma, path, cached)
        return self._inception


WALK_SEEDS, WALK_STEPS = (0, 1, 2), 5  # the report's latent walk: seed 0 -> 1 -> 2, 11 frames


def evaluate_generator(
    generator: torch.nn.Module,
    config: dict[str, Any],
    reference: Reference,
    *,
    model: str,
    checkpoint: Path,
    run_dir: Path | None,
    n_per_class: int,
    fid_n: int,
    chosen: tuple[str, ...] | None = None,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, str | None], torch.Tensor]:
    """Every chosen metric of one generator: ``(report, figures, generated images)``."""
    started = time.perf_counter()
    settings, class_names = config["settings"], list(config["class_names"])
    if class_names != reference.class_names:
        raise UsageError(f"the {settings['dataset']} classes in {reference.root} ({_listed(reference.class_names)}) "
                         f"differ from those {checkpoint} was trained on ({_listed(class_names)})")
    device = reference.device
    samples = generate_set(generator, len(class_names), n_per_class, seed=seed, device=device)
    results = score_set(samples, reference, chosen, fid_n)
    report = {
        **report_header(reference, results),
        "model": model,
        "recipe": config.get("recipe"),
        "run": str(run_dir) if run_dir else None,
        "checkpoint": str(checkpoint),
        "step": config.get("step"),
        "generator_weights": config.get("weights", "generator"),
        "warnings": reference.warnings()
        + earlier_split_warnings(run_dir, reference.real_split)
        + sample_size_warnings(results, samples, reference),
        "conditional": samples.labels is not None,
        "samples": {"n_per_class": n_per_class, "n_total": len(samples.images), "seed": seed},
        "packages": package_versions(model),
    }
    walk = interpolation_grid(generator, class_names, seeds=list(WALK_SEEDS), steps=WALK_STEPS, mode="spherical",
                              class_spec=None, across_classes=False, device=device)
    figures = {
        "samples": sample_grid_png(_grid_images(samples.images, len(class_names), n_per_class), rows=len(class_names)),
        "interpolation": sample_grid_png(walk.flatten(0, 1), rows=walk.shape[0], columns=walk.shape[1]),
        "confusion": confusion_png(results["accuracy"]["confusion"], class_names) if "accuracy" in results else None,
        "losses": loss_curve_png(metric_records(run_dir)),
    }
    report["wall_time_s"] = time.perf_counter() - started
    return report, figures, samples.images


def _listed(names: list[str], shown: int = 5) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def score_set(samples: GeneratedSet, reference: Reference, chosen: tuple[str, ...] | None, fid_n: int) -> dict[str, Any]:
    """Every chosen metric that applies to ``samples`` against ``reference``."""
    judge = reference.judge
    predicted, features = classify(judge.model, samples.images, reference.device) if judge else (None, None)
    inputs = MetricInputs(
        generated=samples.images, labels=samples.labels, fake_features=features, fake_predicted=predicted,
        real_images=reference.real_images.images, real_labels=reference.real_images.labels,
        real_features=reference.real.features if judge else None,
        class_names=reference.class_names, device=reference.device, reference=reference, options={"fid_n": fid_n},
    )
    chosen = parse_metrics(None) if chosen is None else chosen
    results: dict[str, Any] = {}
    for metric in registered_metrics():
        if metric.name in chosen and metric.fits(samples.labels is not None) and reference.applies(metric):
            result = metric.compute(inputs)
            if result is not None:
                results[metric.key] = {**result, "provenance": provenance(metric, result, samples, reference)}
    return results


def report_header(reference: Reference, results: dict[str, Any]) -> dict[str, Any]:
    """The fields every report has, whatever made the images: the real side, the judge,
    the metrics and where they ran."""
    device = reference.device
    return {
        "ganzoo_version": __version__,
        "created": now_iso(),
        "dataset": reference.dataset,
        "data_dir": str(reference.root),
        "real_split": reference.real_split,
        "class_names": reference.class_names,
        "judge": None if reference.judge is None else {
            **reference.judge.describe(), "trained_now": reference.judge.trained_now,
            "tested_on": reference.test_split, "real_test_accuracy_now": reference.judged_test.accuracy},
        **({"judge_unavailable": reference.no_judge} if reference.no_judge else {}),
        "metrics": results,
        "summary": metric_summary(results),
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "wall_time_s": 0.0,
    }


def earlier_split_warnings(run_dir: Path | None, split: dict[str, Any]) -> list[str]:
    """A line for each earlier report of the run that compared against other real images
    (another test split, or the training split): their numbers and these do not compare."""
    if run_dir is None:
        return []

    def contents(real_split: dict[str, Any]) -> dict[str, Any]:  # the fingerprint, whatever the split is called
        return {k: v for k, v in real_split.items() if k != "split"}

    warnings = []
    for path in sorted(RunFolder(run_dir).reports.glob("*/report.json")):
        try:
            earlier = json.loads(read_limited(path, REPORT_LIMIT, "report")).get("real_split")
        except (OSError, ValueError):
            continue
        if isinstance(earlier, dict) and contents(earlier) != contents(split):
            warnings.append(f"the real images compared against differ from those of {path.parent.name} "
                            f"({earlier.get('split', 'test')} split: {describe_fingerprint(earlier)}; now "
                            f"{split['split']} split: {describe_fingerprint(split)}): the two reports' numbers do "
                            "not compare")
    return warnings


def metric_summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric in the report: its name, label, headline number and cell text."""
    rows = []
    for metric in registered_metrics():
        if metric.key in results:
            result = results[metric.key]
            rows.append({"metric": metric.name, "key": metric.key, "label": metric.label, "better": metric.better,
                         "headline": metric.headline(result), "summary": metric.summary(result),
                         "description": metric.description})
    return rows


def evaluate(
    model: str,
    *,
    run: Path | None = None,
    checkpoint: Path | None = None,
    runs_dir: Path | None = None,
    options: EvaluationOptions = EvaluationOptions(),
) -> Path:
    """Evaluate a run's generator (the newest run of ``model``, or ``run``, or
    ``checkpoint``) and write its report; return the report folder."""
    started = time.perf_counter()
    chosen = parse_metrics(options.metrics)
    check_real_split(options.real_split)
    torch_device = resolve_device(options.device)
    path, _ = find(source_of(run, checkpoint), model, runs_dir)
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
    generator, config = load_generator(path, model, torch_device)
    check_counts(chosen, options.n_per_class * len(config["class_names"]))
    folder = report_folder(options.out, run_dir, int(config.get("step") or 0), options.force)
    data_dir = recorded_data_dir(config, options.data_dir, str(run_dir or path))
    with shared_cores(torch_device):  # beside other ganzoo jobs on the CPU, its share of the cores
        reference = Reference(config["settings"], data_dir, torch_device, options.progress, options.real_split)
        report, figures, _ = evaluate_generator(
            generator, config, reference, model=model, checkpoint=path, run_dir=run_dir,
            n_per_class=options.n_per_class, fid_n=options.fid_n, chosen=chosen, seed=options.seed,
        )
    report["wall_time_s"] = time.perf_counter() - started
    write_report(folder, report, figures)
    return folder


def evaluate_images(
    images: Path,
    *,
    dataset: str,
    options: EvaluationOptions = EvaluationOptions(),
) -> Path:
    """Score images that ganzoo did not make (an .npz or a folder, see
    :mod:`ganzoo.evaluate.images`) against ``dataset``'s real test split (or its training
    split), with the same judge, metrics and report as a run's evaluation."""
    started = time.perf_counter()
    chosen = parse_metrics(options.metrics)
    check_real_split(options.real_split)
    torch_device = resolve_device(options.device)
    image_set = read_image_set(images, options.progress)
    check_counts(chosen, len(image_set.images))
    folder = images_report_folder(options.out, images, options.force)
    settings = {"dataset": dataset, "channels": image_set.channels, "image_size": image_set.image_size}
    with shared_cores(torch_device):
        reference = Reference(settings, options.data_dir, torch_device, options.progress, options.real_split)
        labels = image_set.labels_for(reference.class_names)
        samples = GeneratedSet(image_set.images, labels, seed=None)
        results = score_set(samples, reference, chosen, options.fid_n)
    counts = torch.bincount(labels, minlength=len(reference.class_names)).tolist() if labels is not None else None
    report = {
        **report_header(reference, results),
        "model": None,
        "images": {"path": str(images.resolve()), "form": image_set.form, "sha256": image_set.sha256(),
                   "shape": list(image_set.images.shape[1:]), "labelled": labels is not None,
                   "labels_from": image_set.label_source() if labels is not None else None},
        "recipe": None, "run": None, "checkpoint": None, "step": None,
        "warnings": reference.warnings()
        + [f"no images of class {reference.class_names[k]!r}: its accuracy and intra-class FID are undefined"
           for k, count in enumerate(counts or []) if count == 0]
        + sample_size_warnings(results, samples, reference),
        "conditional": labels is not None,
        "samples": {"n_per_class": counts, "n_total": len(image_set.images), "seed": None},
        "packages": package_versions(),
    }
    order = torch.argsort(labels, stable=True) if labels is not None else torch.arange(len(image_set.images))
    shown = _grid_images(image_set.images[order], len(reference.class_names), counts) if counts else image_set.images[:100]
    figures = {
        "samples": sample_grid_png(shown, rows=len(reference.class_names) if counts else max(1, (len(shown) + 9) // 10)),
        "interpolation": None,
        "confusion": confusion_png(results["accuracy"]["confusion"], reference.class_names) if "accuracy" in results else None,
        "losses": None,
    }
    report["wall_time_s"] = time.perf_counter() - started
    write_report(folder, report, figures)
    return folder


def images_report_folder(out: Path | None, images: Path, force: bool) -> Path:
    """``--out``, else a new ``./reports/images-NAME[-N]``."""
    if out is not None:
        return report_folder(out, None, 0, force)
    check_folder_can_be_written(Path.cwd() / "reports", "the report folder", "pass --out to write the report elsewhere")
    return first_free(Path.cwd() / "reports", f"images-{images.stem or 'set'}")


def _grid_images(images: torch.Tensor, num_classes: int, n_per_class: int | list[int], columns: int = 10) -> torch.Tensor:
    """The first ``columns`` samples of each class, row by row (images ordered by class,
    ``n_per_class`` of each, or the count of each class); a class short of samples is
    padded with blank tiles."""
    counts = [n_per_class] * num_classes if isinstance(n_per_class, int) else list(n_per_class)
    starts = [sum(counts[:k]) for k in range(num_classes)]
    blank = torch.zeros((columns, *images.shape[1:]), dtype=images.dtype)
    rows = []
    for start, count in zip(starts, counts):
        row = images[start : start + min(columns, count)]
        rows.append(torch.cat([row, blank[: columns - len(row)]]))
    return torch.cat(rows)
