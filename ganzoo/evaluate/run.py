"""``ganzoo evaluate``: a checkpoint -> generated samples -> every metric -> a report folder."""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data import default_data_dir, describe_fingerprint, fingerprint, load_dataset
from ..device import resolve_device
from ..errors import UsageError, did_you_mean
from ..interpolate import interpolation_grid
from ..runs.folder import RunFolder, metric_records, now_iso, recorded_data_dir
from ..runs.folder import runs_dir as default_runs_dir
from ..sample import find_checkpoint, load_generator
from .classifier import classify, data_key, get_judge
from .core import RealFeatures, generate_set
from .metric_api import Metric, MetricInputs
from .metrics import frechet_between
from .report import confusion_png, loss_curve_png, sample_grid_png, write_report


def registered_metrics() -> list[Metric]:
    """Every registered metric, in registration order (ganzoo's own first)."""
    from ..plugins import get_host

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


def package_versions(model: str | None = None) -> dict[str, str]:
    """Versions of Python, the numeric packages and the plugin distribution of ``model``."""
    versions = {"python": platform.python_version()}
    for name in ("torch", "torchvision", "pytorch-fid", "numpy", "scipy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    if model is not None:
        from ..plugins import get_host

        host = get_host()
        owner = host.models.owner(model) if model in host.models else ""
        for info in host.plugins:
            if info.name == owner and info.distribution:
                versions[info.distribution] = info.version
    return versions


def report_folder(out: Path | None, run_dir: Path | None, step: int, force: bool) -> Path:
    """``--out`` (refused if it holds a report, unless --force), else a new
    ``RUN/reports/step_NNNNNNN[-N]``."""
    if out is not None:
        if (out / "report.json").exists() and not force:
            raise UsageError(f"{out} already holds a report; pass --force to overwrite it or choose another --out")
        return out
    return RunFolder(run_dir if run_dir is not None else Path.cwd()).report(step)


class Reference:
    """Everything on the real side of an evaluation, computed once and shared by every
    generator compared against it: the data, the judge and its features of the real test
    split, the classifier-FID floor and (when the weights are present) the Inception
    statistics. The leaderboard evaluates every model against one Reference."""

    def __init__(self, settings: dict[str, Any], data_dir: Path | None, device: torch.device, progress: bool = True):
        self.shape = {"channels": settings["channels"], "image_size": settings["image_size"]}
        self.dataset = settings["dataset"]
        self.root = default_data_dir(data_dir)
        self.device, self.progress = device, progress
        self.train = load_dataset(self.dataset, self.root, train=True, **self.shape)
        self.test = load_dataset(self.dataset, self.root, train=False, **self.shape)
        self.class_names = list(self.test.class_names)
        self.test_fingerprint = fingerprint(self.test)
        self.judge = get_judge(self.train, self.test, device, progress=progress)
        self.real = RealFeatures.of(self.judge, self.test, device)
        self._floor: float | None = None
        self._inception: tuple[Any, Any, Any, Path, bool] | str | None = None

    def fits(self, settings: dict[str, Any]) -> bool:
        """Whether a run trained on ``settings`` is judged by this reference."""
        return settings["dataset"] == self.dataset and all(settings[k] == v for k, v in self.shape.items())

    def classifier_floor(self) -> float:
        """Classifier FID of the real training set against the real test set."""
        if self._floor is None:
            _, train_features = classify(self.judge.model, self.train.images, self.device)
            self._floor = frechet_between(train_features, self.real.features)
        return self._floor

    def inception(self):
        """``(model, mu, sigma, stats path, cached)``, or the reason it is unavailable (a str)."""
        if self._inception is None:
            from .inception import InceptionUnavailable, load_inception, reference_statistics

            try:
                model = load_inception(self.device)
            except InceptionUnavailable as exc:
                print(f"ganzoo: Inception FID unavailable: {exc}", file=sys.stderr)
                self._inception = str(exc)
            else:
                mu, sigma, path, cached = reference_statistics(model, self.test.images, data_key(self.test), self.device,
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
        raise UsageError(f"the {settings['dataset']} classes in {reference.root} differ from those {checkpoint} was trained on")
    device = reference.device
    samples = generate_set(generator, len(class_names), n_per_class, seed=seed, device=device)
    predicted, features = classify(reference.judge.model, samples.images, device)
    inputs = MetricInputs(
        generated=samples.images, labels=samples.labels, fake_features=features, fake_predicted=predicted,
        real_images=reference.test.images, real_labels=reference.test.labels, real_features=reference.real.features,
        class_names=class_names, device=device, reference=reference, options={"fid_n": fid_n},
    )
    chosen = parse_metrics(None) if chosen is None else chosen
    results: dict[str, Any] = {}
    for metric in registered_metrics():
        if metric.name in chosen and metric.fits(samples.labels is not None):
            result = metric.compute(inputs)
            if result is not None:
                results[metric.key] = result

    judge = reference.judge
    report = {
        "ganzoo_version": __version__,
        "created": now_iso(),
        "model": model,
        "recipe": config.get("recipe"),
        "run": str(run_dir) if run_dir else None,
        "checkpoint": str(checkpoint),
        "step": config.get("step"),
        "generator_weights": config.get("weights", "generator"),
        "dataset": settings["dataset"],
        "data_dir": str(reference.root),
        "real_split": {"split": "test", **reference.test_fingerprint},
        "warnings": earlier_split_warnings(run_dir, reference.test_fingerprint),
        "class_names": class_names,
        "conditional": samples.labels is not None,
        "samples": {"n_per_class": n_per_class, "n_total": len(samples.images), "seed": seed},
        "judge": {**judge.describe(), "trained_now": judge.trained_now, "real_test_accuracy_now": reference.real.accuracy},
        "metrics": results,
        "summary": metric_summary(results),
        "packages": package_versions(model),
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "wall_time_s": 0.0,
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


def earlier_split_warnings(run_dir: Path | None, split: dict[str, Any]) -> list[str]:
    """A line for each earlier report of the run whose real test split was another one:
    their numbers and these do not compare."""
    if run_dir is None:
        return []
    warnings = []
    for path in sorted((RunFolder(run_dir).root / "reports").glob("*/report.json")):
        try:
            earlier = json.loads(path.read_text(encoding="utf-8")).get("real_split")
        except (OSError, ValueError):
            continue
        if isinstance(earlier, dict) and {k: v for k, v in earlier.items() if k != "split"} != split:
            warnings.append(f"the real test split differs from the one of {path.parent.name} "
                            f"({describe_fingerprint(earlier)}; now {describe_fingerprint(split)}): "
                            "the two reports' numbers do not compare")
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
    data_dir: Path | None = None,
    n_per_class: int = 1000,
    fid_n: int = 10000,
    metrics: str | None = None,
    out: Path | None = None,
    seed: int = 0,
    device: str = "auto",
    force: bool = False,
    progress: bool = True,
) -> Path:
    started = time.perf_counter()
    chosen = parse_metrics(metrics)
    torch_device = resolve_device(device)
    path = find_checkpoint(model, run, checkpoint, default_runs_dir(runs_dir))
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
    generator, config = load_generator(path, model, torch_device)
    folder = report_folder(out, run_dir, int(config.get("step") or 0), force)
    data_dir = recorded_data_dir(config, data_dir, str(run_dir or path))
    reference = Reference(config["settings"], data_dir, torch_device, progress)
    report, figures, _ = evaluate_generator(
        generator, config, reference, model=model, checkpoint=path, run_dir=run_dir, n_per_class=n_per_class,
        fid_n=fid_n, chosen=chosen, seed=seed,
    )
    report["wall_time_s"] = time.perf_counter() - started
    write_report(folder, report, figures)
    return folder


def _grid_images(images: torch.Tensor, num_classes: int, n_per_class: int, columns: int = 10) -> torch.Tensor:
    """The first ``columns`` samples of each class, row by row."""
    rows = [images[k * n_per_class : k * n_per_class + min(columns, n_per_class)] for k in range(num_classes)]
    return torch.cat(rows) if n_per_class >= columns else images[: num_classes * columns]
