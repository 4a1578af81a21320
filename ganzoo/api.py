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

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

import torch

from .contracts import Generator
from .data import resolve_class
from .device import resolve_device
from .errors import UsageError

__all__ = ["LoadedGenerator", "datasets", "evaluate", "evaluate_images", "export", "leaderboard", "load", "metrics",
           "models", "recipes", "resume", "runs", "train"]


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
    source: Path
    device: torch.device

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
        from .sample import generate

        if n < 1:
            raise UsageError(f"n must be at least 1, got {n}")
        labels = self._labels(class_, n)
        images = generate(self.generator, labels, seed=seed, device=self.device, truncation=truncation)
        if output == "uint8":
            return images
        if output == "float":
            return images.float() / 127.5 - 1
        if output == "pil":
            from .grids import to_pil

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


def load(source: str | Path, *, model: str | None = None, device: str = "auto") -> LoadedGenerator:
    """A run folder (its last checkpoint), a checkpoint file (.pt), an exported generator
    (.safetensors) or a Hub folder (``ganzoo export --format hub``); ``model`` is read
    from it when not given."""
    from .runs.folder import RunFolder
    from .sample import load_generator

    path, model = _checkpoint_and_model(source, model)
    torch_device = resolve_device(device)
    generator, config = load_generator(path, str(model), torch_device)
    return LoadedGenerator(model=str(model), generator=generator, class_names=list(config["class_names"]),
                           settings=dict(config["settings"]), step=config.get("step"), weights=config["weights"],
                           source=RunFolder.of_checkpoint(path).root if RunFolder.of_checkpoint(path) else path,
                           device=torch_device)


def _checkpoint_and_model(source: str | Path, model: str | None) -> tuple[Path, str]:
    """The checkpoint of a run folder (its last), a checkpoint file (.pt), an exported
    generator (.safetensors) or a Hub folder, and the model it belongs to."""
    from .runs.folder import read_config
    from .runs.hub import WEIGHTS, is_hub_folder
    from .sample import find_checkpoint

    path = Path(source)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if is_hub_folder(path):
        return path, model or _model_in(path / WEIGHTS)
    if path.is_dir():
        model = model or read_config(path).get("model")
        return find_checkpoint(str(model), path, None, path.parent), str(model)
    return path, model or _model_in(path)


def _json_with_folder(path: Path) -> dict[str, Any]:
    """A report's or leaderboard's JSON, with ``folder``: where it was written."""
    import json

    return {**json.loads(path.read_text(encoding="utf-8")), "folder": str(path.parent)}


def _model_in(path: Path) -> str:
    if path.suffix == ".safetensors":
        from .runs.export import read_exported

        return str(read_exported(path)[0].get("model"))
    from .runs.checkpoint import load_checkpoint

    return str(load_checkpoint(path).get("model"))


def train(
    model: str,
    *,
    recipe: str = "mnist",
    settings: Mapping[str, Any] | None = None,
    data_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    device: str = "auto",
    progress: bool = False,
) -> Path:
    """Train ``model`` on ``recipe`` (a name or a YAML path) in a new run folder and return
    it; ``settings`` are what ``--set`` would give (``{"max_steps": 200, "lr": 1e-4}``)."""
    from .train.session import train_run

    return train_run(model, recipe, overrides=[], settings=dict(settings or {}), data_dir=_path(data_dir),
                     runs_dir=_path(runs_dir), device=device, progress=progress)


def resume(
    run: str | Path,
    *,
    settings: Mapping[str, Any] | None = None,
    data_dir: str | Path | None = None,
    allow_other_data: bool = False,
    device: str = "auto",
    progress: bool = False,
) -> Path:
    """Continue ``run`` (a run folder) from its last checkpoint exactly, as ``ganzoo train
    MODEL --resume RUN`` does, and return its folder; ``run`` may be one of its step
    checkpoints (``RUN/checkpoints/step_N.pt``), to go back to that step. ``settings``:
    the ones a resumed run may change (``max_steps``, ``epochs``, intervals, speed)."""
    from .runs.folder import RunFolder, read_config
    from .train.session import resume_run

    path = Path(run)
    folder = path if path.is_dir() else (RunFolder.of_checkpoint(path).root if RunFolder.of_checkpoint(path) else None)
    if not path.exists() or folder is None:
        raise UsageError(f"{path} is neither a run folder nor one of a run's checkpoints")
    model = str(read_config(folder).get("model"))
    return resume_run(model, path, overrides=[], settings=dict(settings or {}), data_dir=_path(data_dir),
                      device=device, progress=progress, allow_other_data=allow_other_data)


def export(
    source: str | Path,
    out: str | Path,
    *,
    model: str | None = None,
    format: Literal["safetensors", "hub"] = "safetensors",  # noqa: A002 - the CLI's own name
    license: str = "mit",  # noqa: A002
    force: bool = False,
) -> Path:
    """Export the generator of a run folder (its last checkpoint) or a checkpoint file, as
    ``ganzoo export`` does: a ``.safetensors`` file with its JSON beside it, or (``format=
    "hub"``) a Hugging Face Hub model folder with a model card. Return what was written."""
    from .runs.export import check_format, export_checkpoint

    check_format(format)
    path, model = _checkpoint_and_model(source, model)
    written, _ = export_checkpoint(model, path, Path(out), format_=format, force=force, license_id=license)
    return written


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
    leaderboard`` does; return leaderboard.json's content, with ``folder``."""
    from .evaluate.leaderboard import leaderboard as make_leaderboard

    folder = make_leaderboard(recipe, runs_dir=_path(runs_dir), out=_path(out), data_dir=_path(data_dir),
                              n_per_class=n_per_class, fid_n=fid_n, seed=seed, device=device, force=force,
                              progress=progress, metrics=metrics, rank_by=rank_by, real_split=real_split)
    return _json_with_folder(folder / "leaderboard.json")


def runs(model: str | None = None, *, recipe: str | None = None,
         runs_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The runs under the runs folder, oldest first, as ``ganzoo runs --json`` lists them:
    where each stands (``state``), its step, training time and newest report."""
    from .runs.folder import runs_dir as default_runs_dir
    from .runs.listing import list_runs

    return list_runs(default_runs_dir(_path(runs_dir)), model, recipe)


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
    ``train``, the real images the metrics compare against (``--real-split``)."""
    from .evaluate.run import evaluate as evaluate_run

    folder = evaluate_run(model, run=_path(run), checkpoint=_path(checkpoint), runs_dir=_path(runs_dir),
                          data_dir=_path(data_dir), n_per_class=n_per_class, fid_n=fid_n, metrics=metrics,
                          out=_path(out), seed=seed, device=device, force=force, progress=progress,
                          real_split=real_split)
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
    from .evaluate.run import evaluate_images as evaluate_image_set

    folder = evaluate_image_set(Path(images), dataset=dataset, data_dir=_path(data_dir), fid_n=fid_n, metrics=metrics,
                                out=_path(out), device=device, force=force, progress=progress, real_split=real_split)
    return _json_with_folder(folder / "report.json")


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
    from .plugins import get_host

    return list(getattr(get_host(), registry))


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)
