"""``ganzoo train``: recipe -> settings -> data + model -> a new run folder -> a trainer made
in one go, fitted; and ``--resume``: a run folder -> the same trainer, restored from its
checkpoint, exactly where it stopped.

Everything a process of the training needs is made here before the trainer, in this order
(the model is built from the run's seed before anything else draws from torch's global
generator): data, model, speed plan and budget, the evaluator of ``eval_every``, the run
folder and its record (rank 0), the logger, the callbacks; then the trainer.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import torch

from .. import __version__
from ..data import ImageData, default_data_dir, describe_fingerprint, evaluation_data, fingerprint, load_dataset
from ..device import resolve_device
from ..errors import CheckpointError, UsageError
from ..evaluate.classifier import no_judge_reason
from ..evaluate.core import periodic_evaluator
from ..models import BuiltModel
from ..plugins import get_host
from ..ranks import process_rank
from ..recipes import load_recipe, load_tuning, parse_overrides, resolve
from ..registry import RecipeSource
from ..runs import lock
from ..runs.checkpoint import load_or_point_to_intact
from ..runs.folder import RunFolder, create_run, data_record, newest_run, now_iso, read_config, recorded_data_dir
from ..runs.folder import runs_dir as default_runs_dir
from ..runs.folder import trim_metrics, upgrade_settings, write_config
from ..runs.rewind import SetAside, plan_set_aside, rewinds, set_aside
from ..settings import RunSettings, flatten, resumable_settings
from ..speed import SpeedPlan, plan_for_run, speed_drift, speed_drift_note
from ..zoo import build_model, get_model_spec, known_model, model_origin, recorded_plugin
from . import distributed
from .callbacks import Callback, check_callbacks, default_callbacks, plugin_callbacks
from .distributed import Context
from .loggers import check_logger, make_logger
from .loop import Trainer, budget
from .state import restore


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Job:
    """What every process of a training is given: the model, the run's settings, where its
    data is, and the callbacks the caller adds (``gz.train(..., callbacks=[...])``)."""

    model: str
    settings: dict[str, Any]
    data_dir: Path | None
    progress: bool
    callbacks: tuple[Callback, ...] = ()


# -- a new run ------------------------------------------------------------------------
def train_run(
    model: str,
    recipe: str,
    *,
    overrides: list[str],
    data_dir: Path | None = None,
    runs_dir: Path | None = None,
    device: str = "auto",
    progress: bool = True,
    settings: Mapping[str, Any] | None = None,
    callbacks: Iterable[Callback] = (),
) -> Path:
    """Validate everything, then train in a fresh run folder; return that folder.
    ``overrides`` are ``--set`` strings; ``settings`` the same as typed values (the
    Python API's), applied after them; ``callbacks`` run beside the built-in ones."""
    recipe_name, tuning, resolved = _new_settings(model, recipe, overrides, settings)
    check_logger(resolved["logger"])
    check_callbacks(resolved["callbacks"])
    job = Job(model, resolved, data_dir, progress, tuple(callbacks))
    return _in_process_group(device, partial(_fit_new_run, job, recipe_name, tuning, runs_dir))


def _new_settings(model: str, recipe: str, overrides: list[str],
                  settings: Mapping[str, Any] | None) -> tuple[str, RecipeSource | None, dict[str, Any]]:
    """The recipe's name, the model's tuning of it, and the run's resolved settings."""
    host = get_host()
    spec = get_model_spec(model)
    recipe_name, raw = load_recipe(recipe, host.recipes)
    tuning = host.tuning(model, recipe_name) if recipe in host.recipes else None  # not for a file of one's own
    changes = {**parse_overrides(overrides), **(settings or {})}
    return recipe_name, tuning, resolve(spec, recipe_name, raw, changes, load_tuning(tuning))


def _fit_new_run(job: Job, recipe: str, tuning: RecipeSource | None, runs_dir: Path | None, context: Context,
                 device: torch.device) -> Path:
    data = _load_training_data(job.settings, job.data_dir)
    built = _build_seeded(job.model, job.settings, data.num_classes, context)
    plan = plan_for_run(job.settings, device, distributed=context.enabled)
    config = {
        "model": job.model, "origin": model_origin(job.model), "recipe": recipe, "created": now_iso(),
        "ganzoo_version": __version__,
        "device": str(device), "processes": context.world_size, "tuning": _tuning_name(tuning),
        "data": data_record(job.data_dir, default_data_dir(job.data_dir), fingerprint(data)),
        "settings": job.settings, "speed": plan.describe(),
        "total_steps": budget(job.settings, len(data), context.world_size).total_steps,
    }
    evaluator = _evaluator(job, data, device) if context.is_main else None
    run_dir = create_run(default_runs_dir(runs_dir), job.model, recipe) if context.is_main else None
    run_dir = Path(distributed.broadcast_object(str(run_dir) if run_dir else None, context))
    trainer = None
    with lock.training(run_dir) if context.is_main else contextlib.nullcontext():
        try:
            if context.is_main:
                write_config(run_dir, {**config, "class_names": data.class_names})
            trainer = _trainer(job, built, data, plan, run_dir, config, evaluator, context, device)
            trainer.fit()
        except BaseException:
            # A run that failed before its first step holds nothing worth keeping: leave no
            # folder that would pass for "the newest run". (One that failed later keeps its
            # logs; runs without a checkpoint are never picked as the newest run.)
            if context.is_main and (trainer is None or trainer.step == 0):
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
    return run_dir


def _tuning_name(tuning: RecipeSource | None) -> str | None:
    if tuning is None:
        return None
    return f"{tuning.owner}: {tuning.path if tuning.settings is not None else Path(tuning.path).name}"


def _build_seeded(model: str, settings: dict[str, Any], num_classes: int, context: Context) -> BuiltModel:
    """The model, initialised from the run's seed (the same on every rank); afterwards
    each rank's layer randomness gets its own seed (distributed.layer_seed)."""
    seed_everything(settings["seed"])
    built = build_model(model, settings, num_classes)
    if context.enabled and not context.is_main:
        torch.manual_seed(distributed.layer_seed(settings["seed"], context))
    return built


def _trainer(job: Job, built: BuiltModel, data: ImageData, plan: SpeedPlan, run_dir: Path, config: dict[str, Any],
             evaluator: Any, context: Context, device: torch.device) -> Trainer:
    """The trainer, with the logger and callbacks of the run (the logger on rank 0 only)."""
    logger = make_logger(job.settings["logger"], run_dir, job.settings) if context.is_main else None
    settings = RunSettings(job.settings)
    callbacks = default_callbacks([*job.callbacks, *plugin_callbacks(settings.callbacks, settings)])
    return Trainer(built, job.settings, data, device=device, plan=plan, run_dir=run_dir, config=config,
                   logger=logger, callbacks=callbacks, evaluator=evaluator, context=context, progress=job.progress)


# -- a resumed run --------------------------------------------------------------------
@dataclass(frozen=True)
class Resumption:
    """Where a resumed run continues from: its folder and record, the checkpoint and what
    it holds, and whether that goes back from where the run stands."""

    run_dir: Path
    checkpoint: Path
    config: dict[str, Any]
    payload: dict[str, Any]
    going_back: bool
    hint: str  # how --resume picks another run, for a refusal


def resume_run(
    model: str,
    run: Path | None,
    *,
    overrides: list[str],
    data_dir: Path | None = None,
    runs_dir: Path | None = None,
    device: str = "auto",
    progress: bool = True,
    allow_other_data: bool = False,
    settings: Mapping[str, Any] | None = None,
    callbacks: Iterable[Callback] = (),
) -> Path:
    """Continue ``run`` (default: the newest run of ``model``) from its last checkpoint,
    in its own folder, exactly as if it had never stopped: on the data it was trained on
    (the folder its config.yaml records, unless ``data_dir`` names another), refusing
    data with another fingerprint unless ``allow_other_data``. ``run`` may instead be one
    of a run's earlier checkpoints: the run goes back to it, and what it wrote after that
    step is set aside in the run folder (``runs.rewind``). ``overrides`` (``--set``
    strings) and ``settings`` (typed values) may change only the resumable settings."""
    known_model(model)
    source = _open_resumption(model, run, runs_dir)
    spec = get_model_spec(model, recorded_plugin(source.config))
    changes = flatten({**parse_overrides(overrides), **(settings or {})}, "--set")
    frozen = sorted(set(changes) - set(resumable_settings()))
    if frozen:
        raise UsageError(f"cannot change {', '.join(map(repr, frozen))} when resuming (only "
                         f"{', '.join(resumable_settings())}); start a new run instead")
    saved = upgrade_settings(source.config.get("settings") or {})
    resolved = resolve(spec, str(source.config.get("recipe", "resumed")), saved, changes, apply_preset=False)
    check_logger(resolved["logger"])
    check_callbacks(resolved["callbacks"])
    job = Job(model, resolved, recorded_data_dir(source.config, data_dir, str(source.run_dir)), progress,
              tuple(callbacks))
    return _in_process_group(device, partial(_continue_run, job, source, allow_other_data))


def _open_resumption(model: str, run: Path | None, runs_dir: Path | None) -> Resumption:
    """The run folder and checkpoint ``--resume`` names, read and checked: the run is of
    ``model``, no other process trains it, the checkpoint is intact and of ``model``."""
    run_dir, checkpoint = _resume_source(run, model, runs_dir)
    config = read_config(run_dir)
    if config.get("model") != model:
        raise UsageError(f"{run_dir} is a run of {config.get('model')!r}, not of {model!r}")
    hint = "; --resume alone takes the newest run, --resume RUN_DIR another" if run is None else ""
    if process_rank() == 0:  # fail fast; the training holds the lock while it trains
        lock.check_free(run_dir, hint)
    payload = load_or_point_to_intact(checkpoint, f"continue from it with 'ganzoo train {model} --resume {{path}}'")
    if payload["model"] != model:
        raise CheckpointError(f"{checkpoint} is a checkpoint of {payload['model']!r}, not of {model!r}")
    _check_record_agrees(run_dir, config, checkpoint, payload)
    return Resumption(run_dir, checkpoint, config, payload, rewinds(run_dir, checkpoint), hint)


def _check_record_agrees(run_dir: Path, config: Mapping[str, Any], checkpoint: Path,
                         payload: Mapping[str, Any]) -> None:
    """Refuse a config.yaml whose fixed settings (those a resume may not change) differ
    from the ones the checkpoint was trained with: a hand edit (``lr``) would be recorded
    while the restored optimiser kept the old value."""
    recorded = upgrade_settings(config.get("settings") or {})
    trained_config = payload.get("config")
    trained = upgrade_settings((trained_config.get("settings") if isinstance(trained_config, Mapping) else None) or {})
    free = set(resumable_settings())
    edited = sorted(key for key in recorded.keys() & trained.keys()
                    if key not in free and recorded[key] != trained[key])
    if edited:
        key = edited[0]
        raise UsageError(f"{RunFolder(run_dir).config} says {key}: {recorded[key]!r}, but {checkpoint.name} was "
                         f"trained with {key}: {trained[key]!r} (an edit by hand?); a run's settings are its "
                         "checkpoint's: put config.yaml back, or start a new run with the new setting")


def _resume_source(run: Path | None, model: str, runs_dir: Path | None) -> tuple[Path, Path]:
    """``--resume``'s run folder and the checkpoint to continue from: the newest run's
    ``last.pt`` (no ``run``), a run folder's, or a checkpoint file in a run's checkpoints/."""
    if run is None:
        run = newest_run(default_runs_dir(runs_dir), model)
    if not run.exists() and run.suffix == ".pt":
        raise UsageError(missing_checkpoint(run))
    if not run.is_file():
        return run, RunFolder(run).last
    folder = RunFolder.of_checkpoint(run)
    if folder is None or not folder.config.is_file():
        raise UsageError(f"{run} is not in the checkpoints/ folder of a run; --resume takes a run folder "
                         "or one of its checkpoints")
    return folder.root, run


def missing_checkpoint(path: Path) -> str:
    """Why a checkpoint --resume names is not there, and which of the run's are."""
    folder = RunFolder.of_checkpoint(path)
    if folder is None or not folder.checkpoints.is_dir():
        return f"checkpoint {path} does not exist"
    kept = sorted(p.name for p in folder.checkpoints.glob("*.pt"))
    return (f"checkpoint {path} does not exist (a run keeps its newest keep_checkpoints step checkpoints and "
            f"deletes older ones); this run has {', '.join(kept) if kept else 'none'}")


def _continue_run(job: Job, source: Resumption, allow_other_data: bool, context: Context, device: torch.device) -> Path:
    data = _load_training_data(job.settings, job.data_dir)
    trained_on, now = _check_same_data(source, data, job.data_dir, allow_other_data)
    built = build_model(job.model, job.settings, data.num_classes, recorded_plugin(source.config))
    plan = plan_for_run(job.settings, device, distributed=context.enabled)
    total = budget(job.settings, len(data), context.world_size).total_steps
    step = _checkpoint_step(source)
    if step >= total:
        raise UsageError(f"{source.run_dir} already finished its {total} steps; "
                         "raise the budget, e.g. --set max_steps=N or --set epochs=N")
    aside = plan_set_aside(source.run_dir, source.checkpoint, step) if source.going_back and context.is_main else None
    config = _resumed_config(job, source, step, plan, total, device, context, aside, (trained_on, now))
    evaluator = _evaluator(job, data, device) if context.is_main else None
    with lock.training(source.run_dir, source.hint) if context.is_main else contextlib.nullcontext():
        trainer = _trainer(job, built, data, plan, source.run_dir, config, evaluator, context, device)
        restore(trainer, source.payload, source.checkpoint, other_data=trained_on is not None and trained_on != now)
        if context.is_main:  # the first write, once the checkpoint is known to fit; a refusal above wrote nothing
            _rewrite_the_record(source, step, config, data.class_names, aside)
        trainer.fit()
    return source.run_dir


def _checkpoint_step(source: Resumption) -> int:
    try:
        return int(source.payload["step"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{source.checkpoint} does not fit this run's model and settings (no step)") from None


def _check_same_data(source: Resumption, data: ImageData, data_dir: Path | None,
                     allow_other_data: bool) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The fingerprints of the data the run trained on (None: not recorded) and of this
    data; data with other classes, or another fingerprint unless allowed, is refused."""
    if list(data.class_names) != list(source.config.get("class_names", data.class_names)):
        raise UsageError(f"the data set's classes differ from those {source.run_dir} was trained on")
    now = fingerprint(data)
    trained_on = (source.config.get("data") or {}).get("train")
    if trained_on is not None and trained_on != now and not allow_other_data:
        raise UsageError(
            f"{source.run_dir} was trained on {describe_fingerprint(trained_on)}; the data in "
            f"{default_data_dir(data_dir)} is {describe_fingerprint(now)}; resume on the same data, or pass "
            "--allow-other-data to continue on this data (the run's config records it)"
        )
    return trained_on, now


def _resumed_config(job: Job, source: Resumption, step: int, plan: SpeedPlan, total: int, device: torch.device,
                    context: Context, aside: SetAside | None, fingerprints: tuple[Any, Any]) -> dict[str, Any]:
    """The run's record with this resumption added: where and how it continued (and from
    which checkpoint, what was set aside, on which data, on which speed path)."""
    trained_on, now = fingerprints
    other_data = trained_on is not None and trained_on != now
    config = {key: value for key, value in source.config.items() if key != "class_names"}
    config["settings"] = job.settings
    resumed: dict[str, Any] = {"at_step": step, "when": now_iso(), "device": str(device),
                               "processes": context.world_size}
    if source.going_back:
        resumed["from_checkpoint"] = str(source.checkpoint.relative_to(source.run_dir))
    if aside is not None and aside.folder is not None:
        resumed["set_aside"] = str(aside.folder.relative_to(source.run_dir))
    if other_data or "data" not in config:
        config["data"] = data_record(job.data_dir, default_data_dir(job.data_dir), now)
    if other_data:
        resumed["other_data"] = {"was": trained_on, "now": now, "dir": config["data"]["dir"]}
    drift = speed_drift(source.config.get("speed") or {}, plan.describe())
    if drift:  # auto resolved anew: another machine, or another ganzoo
        resumed["speed_before"] = source.config.get("speed")
        if context.is_main:
            print(speed_drift_note(drift), file=sys.stderr)
    config.setdefault("resumed", []).append(resumed)
    config["speed"], config["total_steps"] = plan.describe(), total
    return config


def _rewrite_the_record(source: Resumption, step: int, config: dict[str, Any], class_names: list[str],
                        aside: SetAside | None) -> None:
    """Set aside what the run wrote after ``step`` (going back), cut metrics.jsonl back to
    it (the run logs the rest again) and write config.yaml with the resumption."""
    if aside is not None:
        set_aside(aside)
        if aside.folder is not None:
            print(f"ganzoo: {source.run_dir} goes back to step {step}; what it wrote after that step "
                  f"is set aside in {aside.folder}", file=sys.stderr)
    trim_metrics(source.run_dir, step)
    write_config(source.run_dir, {**config, "class_names": class_names})


# -- both -----------------------------------------------------------------------------
def _in_process_group(device: str, fit: Callable[[Context, torch.device], Path]) -> Path:
    """``fit`` inside the process group when launched by torchrun (else simply ``fit``).
    On success every rank waits for the others and the group is destroyed only once
    ``fit`` has returned: its trainer and DistributedDataParallel wrappers, which hold
    the group, are then collectable (distributed.finish). On failure the rank leaves the
    group without waiting."""
    context, torch_device = distributed.init(resolve_device(device))
    try:
        run_dir = fit(context, torch_device)
        distributed.finish()
        return run_dir
    finally:
        distributed.shutdown()


def _evaluator(job: Job, train: ImageData, device: torch.device) -> Any:
    """The classifier metrics for ``eval_every`` (the judge is trained once and cached)."""
    settings = job.settings
    if not settings.get("eval_every"):
        return None
    reason = no_judge_reason(train.class_names)
    if reason:
        raise UsageError(f"eval_every scores with the judge, and {reason}; leave eval_every at 0 and score the run "
                         "with 'ganzoo evaluate'")
    data = evaluation_data(settings["dataset"], default_data_dir(job.data_dir), channels=settings["channels"],
                           image_size=settings["image_size"], train=train)
    return periodic_evaluator(data.judge_train, data.test, n_per_class=settings["eval_samples"], device=device,
                              progress=job.progress)


def _load_training_data(settings: Mapping[str, Any], data_dir: Path | None) -> ImageData:
    return load_dataset(settings["dataset"], default_data_dir(data_dir), train=True, channels=settings["channels"],
                        image_size=settings["image_size"])
