"""``ganzoo train``: recipe -> settings -> data + model -> a new run folder -> the loop;
and ``--resume``: a run folder -> the same loop, exactly where it stopped."""

from __future__ import annotations

import contextlib
import random
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from .. import __version__
from ..data import default_data_dir, describe_fingerprint, evaluation_data, fingerprint, load_dataset
from ..device import resolve_device
from ..errors import CheckpointError, UsageError
from ..models import build_model
from ..plugins import get_host
from ..ranks import process_rank
from ..recipes import load_recipe, load_tuning, parse_overrides, resolve
from ..runs import lock
from ..runs.checkpoint import load_or_point_to_intact
from ..runs.folder import (RunFolder, create_run, data_record, newest_run, now_iso, read_config, recorded_data_dir,
                           trim_metrics, upgrade_settings, write_config)
from ..runs.folder import runs_dir as default_runs_dir
from ..runs.rewind import rewinds, set_aside_after
from ..settings import RESUMABLE_SETTINGS
from . import distributed
from .distributed import Context
from .loggers import check_logger, make_logger
from .loop import Trainer
from .speed import speed_drift, speed_drift_note
from .state import load_state

def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def train_run(
    model: str,
    recipe: str,
    *,
    overrides: list[str],
    data_dir: Path | None = None,
    runs_dir: Path | None = None,
    device: str = "auto",
    progress: bool = True,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Validate everything, then train in a fresh run folder; return that folder.
    ``overrides`` are ``--set`` strings; ``settings`` the same as typed values (the
    Python API's), applied after them."""
    host = get_host()
    spec = host.models.get(model)
    recipe_name, raw = load_recipe(recipe, host.recipes)
    tuning = host.tuning(model, recipe_name) if recipe in host.recipes else None  # not for a file of one's own
    settings = resolve(spec, recipe_name, raw, {**parse_overrides(overrides), **(settings or {})}, load_tuning(tuning))
    check_logger(settings["logger"])

    def fit(context: Context, torch_device: torch.device) -> Path:
        data = _load_training_data(settings, data_dir)
        built = _build_seeded(model, settings, data.num_classes, context)
        config = {
            "model": model,
            "recipe": recipe_name,
            "created": now_iso(),
            "ganzoo_version": __version__,
            "device": str(torch_device),
            "processes": context.world_size,
            "tuning": _tuning_name(tuning),
            "data": data_record(data_dir, default_data_dir(data_dir), fingerprint(data)),
            "settings": settings,
        }
        evaluator = _evaluator(settings, data, data_dir, torch_device, progress) if context.is_main else None
        trainer = Trainer(built, settings, data, device=torch_device, config=config, progress=progress,
                          evaluator=evaluator, context=context)
        run_dir = create_run(default_runs_dir(runs_dir), model, recipe_name) if context.is_main else None
        run_dir = Path(distributed.broadcast_object(str(run_dir) if run_dir else None, context))
        trainer.run_dir = run_dir
        with lock.training(run_dir) if context.is_main else contextlib.nullcontext():
            return _record_and_fit(trainer, config, data.class_names, context, fresh=True)

    return _in_process_group(device, fit)


def _tuning_name(tuning: Any) -> str | None:
    if tuning is None:
        return None
    return f"{tuning.owner}: {tuning.path if tuning.settings is not None else Path(tuning.path).name}"


def _build_seeded(model: str, settings: dict, num_classes: int, context: Context):
    """The model, initialised from the run's seed (the same on every rank); afterwards
    each rank's layer randomness gets its own seed (distributed.layer_seed)."""
    seed_everything(settings["seed"])
    built = build_model(model, settings, num_classes)
    if context.enabled and not context.is_main:
        torch.manual_seed(distributed.layer_seed(settings["seed"], context))
    return built


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
    settings: dict[str, Any] | None = None,
) -> Path:
    """Continue ``run`` (default: the newest run of ``model``) from its last checkpoint,
    in its own folder, exactly as if it had never stopped: on the data it was trained on
    (the folder its config.yaml records, unless ``data_dir`` names another), refusing
    data with another fingerprint unless ``allow_other_data``. ``run`` may instead be one
    of a run's earlier checkpoints: the run goes back to it, and what it wrote after that
    step is set aside in the run folder (``runs.rewind``). ``overrides`` (``--set``
    strings) and ``settings`` (typed values) may change only ``RESUMABLE_SETTINGS``."""
    host = get_host()
    spec = host.models.get(model)
    run_dir, checkpoint_path = _resume_source(run, model, runs_dir)
    config = read_config(run_dir)
    if config.get("model") != model:
        raise UsageError(f"{run_dir} is a run of {config.get('model')!r}, not of {model!r}")
    newest = "; --resume alone takes the newest run, --resume RUN_DIR another" if run is None else ""
    if process_rank() == 0:  # fail fast; fit holds the lock while it trains
        lock.check_free(run_dir, newest)
    payload = load_or_point_to_intact(checkpoint_path, f"continue from it with 'ganzoo train {model} --resume {{path}}'")
    going_back = rewinds(run_dir, checkpoint_path)
    if payload["model"] != model:
        raise CheckpointError(f"{checkpoint_path} is a checkpoint of {payload['model']!r}, not of {model!r}")

    changes = {**parse_overrides(overrides), **(settings or {})}
    frozen = sorted(set(changes) - set(RESUMABLE_SETTINGS))
    if frozen:
        raise UsageError(
            f"cannot change {', '.join(map(repr, frozen))} when resuming (only {', '.join(RESUMABLE_SETTINGS)}); "
            "start a new run instead"
        )
    saved = upgrade_settings(config.get("settings") or {})
    settings = resolve(spec, str(config.get("recipe", "resumed")), saved, changes, apply_preset=False)
    check_logger(settings["logger"])
    data_dir = recorded_data_dir(config, data_dir, str(run_dir))

    def fit(context: Context, torch_device: torch.device) -> Path:
        with contextlib.ExitStack() as held:
            return _continue(context, torch_device, held)

    def _continue(context: Context, torch_device: torch.device, held: contextlib.ExitStack) -> Path:
        data = _load_training_data(settings, data_dir)
        if list(data.class_names) != list(config.get("class_names", data.class_names)):
            raise UsageError(f"the data set's classes differ from those {run_dir} was trained on")
        now = fingerprint(data)
        trained_on = (config.get("data") or {}).get("train")
        other_data = trained_on is not None and trained_on != now
        if other_data and not allow_other_data:
            raise UsageError(
                f"{run_dir} was trained on {describe_fingerprint(trained_on)}; the data in "
                f"{default_data_dir(data_dir)} is {describe_fingerprint(now)}; resume on the same data, or pass "
                "--allow-other-data to continue on this data (the run's config records it)"
            )
        built = build_model(model, settings, data.num_classes)
        run_config = {key: value for key, value in config.items() if key != "class_names"}
        run_config["settings"] = settings
        evaluator = _evaluator(settings, data, data_dir, torch_device, progress) if context.is_main else None
        trainer = Trainer(built, settings, data, device=torch_device, run_dir=run_dir, config=run_config,
                          progress=progress, evaluator=evaluator, context=context)
        load_state(trainer, payload, checkpoint_path, other_data=other_data)
        if trainer.step >= trainer.total_steps:
            raise UsageError(
                f"{run_dir} already finished its {trainer.total_steps} steps; "
                "raise the budget, e.g. --set max_steps=N or --set epochs=N"
            )
        resumed = {"at_step": trainer.step, "when": now_iso(), "device": str(torch_device),
                   "processes": context.world_size}
        if going_back:
            resumed["from_checkpoint"] = str(checkpoint_path.relative_to(run_dir))
        if context.is_main:  # the lock is held from the first write to the end; a refusal above wrote nothing
            held.enter_context(lock.training(run_dir, newest))
            if going_back:
                aside = set_aside_after(run_dir, checkpoint_path, trainer.step)
                if aside is not None:
                    resumed["set_aside"] = str(aside.relative_to(run_dir))
                    print(f"ganzoo: {run_dir} goes back to step {trainer.step}; what it wrote after that step "
                          f"is set aside in {aside}", file=sys.stderr)
            trainer.history = trim_metrics(run_dir, trainer.step)
        if other_data or "data" not in run_config:
            run_config["data"] = data_record(data_dir, default_data_dir(data_dir), now)
        if other_data:
            resumed["other_data"] = {"was": trained_on, "now": now, "dir": run_config["data"]["dir"]}
        drift = speed_drift(config.get("speed") or {}, trainer.plan.describe())
        if drift:  # auto resolved anew: another machine, or another ganzoo
            resumed["speed_before"] = config.get("speed")
            if context.is_main:
                print(speed_drift_note(drift), file=sys.stderr)
        run_config.setdefault("resumed", []).append(resumed)
        return _record_and_fit(trainer, run_config, data.class_names, context)

    return _in_process_group(device, fit)


def _resume_source(run: Path | None, model: str, runs_dir: Path | None) -> tuple[Path, Path]:
    """``--resume``'s run folder and the checkpoint to continue from: the newest run's
    ``last.pt`` (no ``run``), a run folder's, or a checkpoint file in a run's checkpoints/."""
    if run is None:
        run = newest_run(default_runs_dir(runs_dir), model)
    if not run.is_file():
        return run, RunFolder(run).last
    folder = RunFolder.of_checkpoint(run)
    if folder is None or not folder.config.is_file():
        raise UsageError(f"{run} is not in the checkpoints/ folder of a run; --resume takes a run folder "
                         "or one of its checkpoints")
    return folder.root, run


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


def _record_and_fit(trainer: Trainer, config: dict, class_names: list[str], context: Context,
                    fresh: bool = False) -> Path:
    """Write the run's config.yaml (rank 0), start the extra logger, train."""
    config["speed"] = trainer.plan.describe()
    config["total_steps"] = trainer.total_steps
    trainer.config = config
    if context.is_main:
        write_config(trainer.run_dir, {**config, "class_names": class_names})
        trainer.logger = make_logger(trainer.settings["logger"], trainer.run_dir, trainer.settings)
        on_resume = getattr(trainer.logger, "resumed", None)
        if not fresh and callable(on_resume):
            on_resume(trainer.step)
    try:
        trainer.fit()
    except BaseException:
        # A run that failed before its first step holds nothing worth keeping: leave no
        # folder that would pass for "the newest run". (One that failed later keeps its
        # logs; runs without a checkpoint are never picked as the newest run.)
        if fresh and context.is_main and trainer.step == 0:
            shutil.rmtree(trainer.run_dir, ignore_errors=True)
        raise
    return trainer.run_dir


def _evaluator(settings: dict, train, data_dir: Path | None, device, progress: bool):
    """The classifier metrics for ``eval_every`` (the judge is trained once and cached)."""
    if not settings.get("eval_every"):
        return None
    from ..evaluate.core import periodic_evaluator

    from ..evaluate.classifier import no_judge_reason

    reason = no_judge_reason(train.class_names)
    if reason:
        raise UsageError(f"eval_every scores with the judge, and {reason}; leave eval_every at 0 and score the run "
                         "with 'ganzoo evaluate'")
    data = evaluation_data(settings["dataset"], default_data_dir(data_dir), channels=settings["channels"],
                           image_size=settings["image_size"], train=train)
    return periodic_evaluator(data.judge_train, data.test, n_per_class=settings["eval_samples"], device=device,
                              progress=progress)


def _load_training_data(settings: dict, data_dir: Path | None):
    return load_dataset(
        settings["dataset"],
        default_data_dir(data_dir),
        train=True,
        channels=settings["channels"],
        image_size=settings["image_size"],
    )
