"""ganzoo as a library: the same operations as the command line, as Python calls.

    import ganzoo.api as gz

    run = gz.train("acgan", recipe="mnist", settings={"max_steps": 200})
    run = gz.resume(run, settings={"max_steps": 400})  # on from its last checkpoint, exactly
    generator = gz.load(run)                        # a run folder, a checkpoint or an exported .safetensors
    sevens = generator.sample("seven", n=16, seed=0)  # uint8 tensor (16, C, H, W)
    report = gz.evaluate("acgan", run=run, n_per_class=100)
    gz.export(run, "acgan.safetensors")             # or format="hub" for a Hub model folder

Everything here is documented in docs/python-api.md and follows the stability promise
there; the command line calls the same functions underneath (``train_run``,
``load_generator``, ``generate``, ``evaluate``). Errors are ganzoo's own
(``ganzoo.UsageError`` for bad input, ``ganzoo.GanzooError`` for the rest), one line each.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from . import artifacts, listings
from .artifacts import source_of
from .classes import resolve_class
from .contracts import Generator
from .device import resolve_device
from .errors import UsageError
from .evaluate.leaderboard import leaderboard as make_leaderboard
from .evaluate.options import EvaluationOptions
from .evaluate.run import evaluate as evaluate_run
from .evaluate.run import evaluate_images as evaluate_image_set
from .files import REPORT_LIMIT, read_limited
from .generation import generate
from .grids import to_pil
from .interpolate import parse_seeds, write_interpolation
from .plugins import get_host
from .recipes import parse_overrides
from .runs.export import check_format, export_checkpoint
from .runs.folder import RunFolder, read_config
from .runs.folder import runs_dir as runs_folder
from .runs.listing import list_runs
from .sample import write_samples
from .train.callbacks import Callback
from .train.session import missing_checkpoint, resume_run, train_run

__all__ = ["LoadedGenerator", "catalog", "datasets", "evaluate", "evaluate_images", "export", "export_weights", "leaderboard", "load",
           "metrics", "models", "parse_overrides", "parse_seeds", "recipes", "resolve_device", "resume", "runs",
           "runs_folder", "source_of", "train"]


@dataclass
class LoadedGenerator:
    """A trained generator ready to sample: the network (eval mode, on ``device``) and
    what its run recorded."""

    model: str
    generator: Generator
    class_names: list[str]
    settings: dict[str, Any]
    step: int | None
    weights: str  # "ema" (the moving average of G) or "generator"
    source: Path  # the run folder, or the file or folder loaded when it is none's
    device: torch.device
    checkpoint: Path | None = None  # the file (or Hub folder) the weights came from

    @property
    def conditional(self) -> bool:
        return self.generator.conditional

    def sample(
        self,
        class_: int | str | None = None,
        *,
        n: int = 10,
        seed: int = 0,
        truncation: float | None = None,
        output: Literal["uint8", "float", "pil"] = "uint8",
    ) -> torch.Tensor | list[Any]:
        """``n`` images of one class (an index, a name such as ``"seven"`` or
        ``"7 - seven"``), or of every class in turn with ``class_="all"`` (``n`` each);
        an unconditional model takes ``class_=None``. The same seed gives the same images,
        as ``ganzoo sample --seed`` does; ``truncation`` psi is the truncation trick
        (``--truncation``). ``output``: ``uint8`` (N, C, H, W) in 0..255,
        ``float`` in [-1, 1], or ``pil`` (a list of PIL images)."""
        if n < 1:
            raise UsageError(f"n must be at least 1, got {n}")
        labels = self._labels(class_, n)
        images = generate(self.generator, labels, seed=seed, device=self.device, truncation=truncation)
        if output == "uint8":
            return images
        if output == "float":
            return images.float() / 127.5 - 1
        if output == "pil":
            return [to_pil(image) for image in images]
        raise UsageError(f"output must be 'uint8', 'float' or 'pil', got {output!r}")

    def _labels(self, class_: int | str | None, n: int) -> torch.Tensor:
        if not self.conditional:
            if class_ is not None:
                raise UsageError(f"{self.model} is unconditional: sample it with class_=None")
            return torch.zeros(n, dtype=torch.long)
        if class_ is None or (isinstance(class_, str) and class_.strip().lower() == "all"):
            return torch.arange(len(self.class_names)).repeat_interleave(n)
        return torch.full((n,), resolve_class(str(class_), self.class_names), dtype=torch.long)

    def save(self, class_: int | str | None = None, *, n: int = 10, seed: int = 0, out: str | Path | None = None,
             truncation: float | None = None, force: bool = False, progress: bool = False) -> Path:
        """Write ``n`` images of a class (``"all"``, the default for a conditional model:
        ``n`` of every class, one row each) as ``ganzoo sample`` does: ``out`` is a .png or
        .jpg grid, an .npz (uint8 ``images`` and ``labels``) or a folder of PNGs (no
        suffix); by default ``samples/sample-CLASS-seedS.png`` in the run. Return the path."""
        return write_samples(self.generator, self.class_names, None if class_ is None else str(class_),
                             model=self.model, checkpoint=self._checkpoint, n=n, seed=seed, out=_path(out),
                             device=self.device, force=force, progress=progress, truncation=truncation)

    def interpolate(self, seeds: list[int], *, steps: int = 8, mode: str = "spherical", class_: int | str | None = None,
                    across_classes: bool = False, truncation: float | None = None, out: str | Path | None = None,
                    force: bool = False) -> tuple[Path, Path]:
        """A latent walk between ``seeds`` (or, ``across_classes``, one noise through every
        class) written as ``ganzoo interpolate`` does: a .png strip and a .gif beside it.
        Return both paths."""
        return write_interpolation(self.generator, self.class_names, checkpoint=self._checkpoint, seeds=list(seeds),
                                   steps=steps, mode=mode, class_spec=None if class_ is None else str(class_),
                                   across_classes=across_classes, device=self.device, truncation=truncation,
                                   out=_path(out), force=force)

    @property
    def _checkpoint(self) -> Path:
        return self.checkpoint if self.checkpoint is not None else self.source


def load(source: str | Path | None = None, *, model: str | None = None, runs_dir: str | Path | None = None,
         device: str = "auto") -> LoadedGenerator:
    """A run folder (its last checkpoint), a checkpoint file (.pt), an exported generator
    (.safetensors) or a Hub folder (``ganzoo export --format hub``); ``model`` is read
    from it when not given. With no ``source``, the newest run of ``model`` under the
    runs folder (``runs_dir``, else ``GANZOO_RUNS_DIR``, else ``./runs``)."""
    if source is not None and not Path(source).exists():
        raise UsageError(f"{source} does not exist")
    path, model = artifacts.find(_path(source), model, _path(runs_dir))
    torch_device = resolve_device(device)
    generator, config = artifacts.load_generator(path, model, torch_device)
    run = RunFolder.of_checkpoint(path)
    return LoadedGenerator(model=model, generator=generator, class_names=list(config["class_names"]),
                           settings=dict(config["settings"]), step=config.get("step"), weights=config["weights"],
                           source=run.root if run else path, device=torch_device, checkpoint=path)


def _json_with_folder(path: Path) -> dict[str, Any]:
    """A report's or leaderboard's JSON, with ``folder``: where it was written."""
    return {**json.loads(read_limited(path, REPORT_LIMIT, "report")), "folder": str(path.parent)}


def train(
    model: str,
    *,
    recipe: str = "mnist",
    settings: Mapping[str, Any] | None = None,
    data_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    device: str = "auto",
    progress: bool = False,
    callbacks: Iterable[Callback] = (),
) -> Path:
    """Train ``model`` on ``recipe`` (a name or a YAML path) in a new run folder and return
    it; ``settings`` are what ``--set`` would give (``{"max_steps": 200, "lr": 1e-4}``);
    ``callbacks`` (``ganzoo.Callback`` objects) run between the steps beside the built-in
    ones, and their state goes into every checkpoint."""
    return train_run(model, recipe, overrides=[], settings=dict(settings or {}), data_dir=_path(data_dir),
                     runs_dir=_path(runs_dir), device=device, progress=progress, callbacks=callbacks)


def resume(
    run: str | Path | None = None,
    *,
    model: str | None = None,
    runs_dir: str | Path | None = None,
    settings: Mapping[str, Any] | None = None,
    data_dir: str | Path | None = None,
    allow_other_data: bool = False,
    device: str = "auto",
    progress: bool = False,
    callbacks: Iterable[Callback] = (),
) -> Path:
    """Continue ``run`` (a run folder; with none, the newest run of ``model`` under the runs
    folder) from its last checkpoint exactly, as ``ganzoo train MODEL --resume RUN`` does,
    and return its folder; ``run`` may be one of its step checkpoints
    (``RUN/checkpoints/step_N.pt``), to go back to that step. ``settings``: the ones a
    resumed run may change (``max_steps``, ``epochs``, intervals, speed). ``callbacks``:
    the run's own again (each takes back the state the checkpoint holds)."""
    path = None if run is None else Path(run)
    if path is not None:
        folder = path if path.is_dir() else (RunFolder.of_checkpoint(path).root if RunFolder.of_checkpoint(path)
                                             else None)
        if not path.exists() and path.suffix == ".pt":
            raise UsageError(missing_checkpoint(path))
        if not path.exists() or folder is None:
            raise UsageError(f"{path} is neither a run folder nor one of a run's checkpoints")
        model = model or str(read_config(folder).get("model"))
    elif model is None:
        raise UsageError("name the run to resume, or the model whose newest run to resume")
    return resume_run(model, path, overrides=[], settings=dict(settings or {}), data_dir=_path(data_dir),
                      runs_dir=_path(runs_dir), device=device, progress=progress, allow_other_data=allow_other_data,
                      callbacks=callbacks)


def export(
    source: str | Path | None,
    out: str | Path,
    *,
    model: str | None = None,
    format: Literal["safetensors", "hub"] = "safetensors",  # noqa: A002 - the CLI's own name
    license: str = "mit",  # noqa: A002
    force: bool = False,
) -> Path:
    """Export the generator of a run folder (its last checkpoint) or a checkpoint file (with
    ``source`` None, the newest run of ``model``), as ``ganzoo export`` does: a
    ``.safetensors`` file with its JSON beside it, or (``format="hub"``) a Hugging Face Hub
    model folder with a model card. Return what was written."""
    return export_weights(source, out, model=model, format=format, license=license, force=force)[0]


def export_weights(source: str | Path | None, out: str | Path, *, model: str | None = None, runs_dir: str | Path | None = None,
                   format: str = "safetensors", license: str = "mit", force: bool = False) -> tuple[Path, str]:  # noqa: A002
    """:func:`export`, also saying whose weights were written: ``ema`` or ``generator``."""
    check_format(format)
    path, model = artifacts.find(_path(source), model, _path(runs_dir))
    return export_checkpoint(model, path, Path(out), format_=format, force=force, license_id=license)


def leaderboard(
    recipe: str,
    *,
    runs_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    n_per_class: int = 1000,
    fid_n: int = 10000,
    metrics: str | None = None,
    rank_by: str | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    device: str = "auto",
    force: bool = False,
    progress: bool = False,
    real_split: str = "test",
) -> dict[str, Any]:
    """Compare the newest run of every model trained on ``recipe``, as ``ganzoo
    leaderboard`` does; return leaderboard.json's content, with ``folder``. The other
    keywords are :func:`evaluate`'s."""
    options = EvaluationOptions(n_per_class=n_per_class, fid_n=fid_n, metrics=metrics, seed=seed, real_split=real_split,
                                data_dir=_path(data_dir), out=_path(out), device=device, force=force, progress=progress)
    folder = make_leaderboard(recipe, runs_dir=_path(runs_dir), rank_by=rank_by, options=options)
    return _json_with_folder(folder / "leaderboard.json")


def runs(model: str | None = None, *, recipe: str | None = None,
         runs_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The runs under the runs folder, oldest first, as ``ganzoo runs --json`` lists them:
    where each stands (``state``), its step, training time and newest report."""
    return list_runs(runs_folder(_path(runs_dir)), model, recipe)


def evaluate(
    model: str,
    *,
    run: str | Path | None = None,
    checkpoint: str | Path | None = None,
    runs_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    n_per_class: int = 1000,
    fid_n: int = 10000,
    metrics: str | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    device: str = "auto",
    force: bool = False,
    progress: bool = False,
    real_split: str = "test",
) -> dict[str, Any]:
    """Evaluate a run (the newest of ``model`` by default) as ``ganzoo evaluate`` does;
    return the report (report.json's content, with ``folder``: where it was written).
    ``fid_n``: the generated images of the Inception metrics; ``real_split``: ``test`` or
    ``train``, the real images the metrics compare against (``--real-split``); the rest
    as :class:`ganzoo.evaluate.options.EvaluationOptions` says."""
    options = EvaluationOptions(n_per_class=n_per_class, fid_n=fid_n, metrics=metrics, seed=seed, real_split=real_split,
                                data_dir=_path(data_dir), out=_path(out), device=device, force=force, progress=progress)
    folder = evaluate_run(model, run=_path(run), checkpoint=_path(checkpoint), runs_dir=_path(runs_dir),
                          options=options)
    return _json_with_folder(folder / "report.json")


def evaluate_images(
    images: str | Path,
    *,
    dataset: str,
    data_dir: str | Path | None = None,
    fid_n: int = 10000,
    metrics: str | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    force: bool = False,
    progress: bool = False,
    real_split: str = "test",
) -> dict[str, Any]:
    """Score images ganzoo did not make (an .npz or a folder of PNGs) against ``dataset``'s
    real test split (or, ``real_split="train"``, its training split), as ``ganzoo evaluate
    --images`` does; return the report."""
    options = EvaluationOptions(fid_n=fid_n, metrics=metrics, real_split=real_split, data_dir=_path(data_dir),
                                out=_path(out), device=device, force=force, progress=progress)
    folder = evaluate_image_set(Path(images), dataset=dataset, options=options)
    return _json_with_folder(folder / "report.json")


def catalog(kind: Literal["models", "recipes", "datasets", "metrics", "plugins"]) -> list[dict[str, Any]]:
    """What is installed, in detail, as ``ganzoo models --json`` (``recipes``, ``datasets``,
    ``metrics``, ``plugins``) lists it: one mapping per entry."""
    rows = {"models": listings.models, "recipes": listings.recipes, "datasets": listings.datasets,
            "metrics": listings.metrics, "plugins": listings.plugins}
    if kind not in rows:
        raise UsageError(f"catalog takes one of {', '.join(rows)}, got {kind!r}")
    return rows[kind]()


def models() -> list[str]:
    """The registered models' names."""
    return _names("models")


def recipes() -> list[str]:
    return _names("recipes")


def datasets() -> list[str]:
    return _names("datasets")


def metrics() -> list[str]:
    return _names("metrics")


def _names(registry: str) -> list[str]:
    return list(getattr(get_host(), registry))


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)
