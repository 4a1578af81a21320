"""What a checkpoint holds, and continuing exactly from one.

Keys: ``model``, ``ganzoo_version``, ``generator``, ``discriminator``, ``optimizer_g``,
``optimizer_d`` (and ``step.NAME`` for the step's own optimisers), ``train_step`` (the
step module's state: its networks and extra state), ``generator_ema`` (with ``ema``),
``step``, ``epoch``, ``rng``, ``data_order``, ``metric_names`` / ``metric_sums`` /
``metric_steps`` (the partial log interval), ``elapsed_s``, ``world_size``,
``best_classifier_fid`` and ``config``. Checkpoints of ganzoo 0.1 (no ``metric_names``,
no step state) load too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import __version__
from ..errors import CheckpointError, UsageError, first_line
from ..runs.checkpoint import keep_checkpoint
from ..runs.folder import RunFolder
from . import distributed
from .callbacks import evaluation_callback

if TYPE_CHECKING:
    from .loop import Trainer


def checkpoint_payload(trainer: Trainer, gather: bool = True) -> dict[str, Any]:
    """What a checkpoint holds. Under torchrun every rank must call this with ``gather``
    (it collects each rank's layer-randomness state); rank 0 writes it."""
    context = trainer.context
    rng: dict[str, Any] = {"trainer": trainer.rng.get_state(), "torch": torch.get_rng_state()}
    if trainer.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(trainer.device)
    if context.enabled and gather:
        rng["per_rank"] = distributed.gather_objects({k: v.cpu() for k, v in rng.items() if k != "trainer"}, context)
    # The unlogged steps' sums, averaged over the ranks: every rank resumes from them,
    # and the mean of (averaged old + own new) sums is the mean over ranks of the interval.
    sums = trainer.sums.used()
    sums = distributed.mean_over_ranks(sums, context) if gather else sums
    payload = {
        "model": trainer.model.spec.name,
        "ganzoo_version": __version__,
        "generator": trainer.generator.state_dict(),
        "discriminator": trainer.discriminator.state_dict(),
        **{name: optimizer.state_dict() for name, optimizer in trainer.optimizers().items()},
        "train_step": trainer.train_step.state_dict(),
        "step": trainer.step,
        "epoch": trainer.epoch,
        "rng": rng,
        "data_order": trainer.order.cpu(),
        "metric_names": list(trainer.sums.names),
        "metric_sums": sums.cpu(),
        "metric_steps": trainer.sums.steps,
        "elapsed_s": trainer.elapsed(),
        "world_size": context.world_size,
        "best_classifier_fid": evaluation_callback(trainer).best_fid,
        "config": {**trainer.config, "class_names": trainer.class_names},
    }
    if trainer.ema is not None:
        payload["generator_ema"] = trainer.ema.state_dict()
    return payload


def save_step_checkpoint(trainer: Trainer) -> None:
    """``checkpoints/step_NNNNNNN.pt`` (the newest ``keep_checkpoints`` kept) and ``last.pt``."""
    trainer.check_finite()
    payload = checkpoint_payload(trainer)
    if trainer.writes:
        folder = RunFolder(trainer.run_dir)
        keep_checkpoint(folder.checkpoints, folder.step_checkpoint_name(trainer.step), payload,
                        trainer.settings["keep_checkpoints"])


def load_state(trainer: Trainer, payload: dict[str, Any], source: Path, *, other_data: bool = False) -> None:
    """Continue exactly where ``payload`` (a checkpoint of this run) stopped; on
    ``other_data`` (allowed by the user), with a fresh data order over the new images."""
    context = trainer.context
    trained_with = int(payload.get("world_size", 1))
    if trained_with != context.world_size:
        raise UsageError(
            f"{source} was trained by {trained_with} process(es), this is {context.world_size}; resume with "
            + (f"torchrun --nproc-per-node {trained_with} -m ganzoo train ..." if trained_with > 1 else "one process")
        )
    try:
        trainer.generator.load_state_dict(payload["generator"])
        trainer.discriminator.load_state_dict(payload["discriminator"])
        for name, optimizer in trainer.optimizers().items():
            optimizer.load_state_dict(payload[name])
        if "train_step" in payload:
            trainer.train_step.load_state_dict(payload["train_step"])
        if trainer.ema is not None:
            if "generator_ema" not in payload:
                raise KeyError("generator_ema: the run was trained without ema")
            trainer.ema.load_state_dict(payload["generator_ema"])
        for optimizer in trainer.optimizers().values():  # base rates of the schedule, as this run sets them
            for group in optimizer.param_groups:
                group.setdefault("base_lr", float(group["lr"]))
        rng = payload["rng"]
        trainer.rng.set_state(rng["trainer"])
        mine = rng["per_rank"][context.rank] if "per_rank" in rng else rng
        torch.set_rng_state(mine["torch"])
        if trainer.device.type == "cuda" and "cuda" in mine:
            torch.cuda.set_rng_state(mine["cuda"], trainer.device)
        trainer.step = int(payload["step"])
        trainer.epoch = int(payload["epoch"])
        trainer.order = payload["data_order"].to(trainer.device)
        if other_data:
            trainer.order = trainer.order[:0]  # the loop draws a new permutation of the new images
        _restore_sums(trainer, payload)
        trainer.elapsed_s = float(payload.get("elapsed_s", 0.0))
        evaluation_callback(trainer).best_fid = float(payload.get("best_classifier_fid", math.inf))
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{source} does not fit this run's model and settings ({first_line(exc)})") from None
    if trainer.order.numel() not in (0, len(trainer.images)):
        raise CheckpointError(f"{source} was trained on {trainer.order.numel()} images, this data set has "
                              f"{len(trainer.images)}")


def _restore_sums(trainer: Trainer, payload: dict[str, Any]) -> None:
    """The partial log interval. A ganzoo 0.1 checkpoint kept its sums by position under
    other names; its partial interval is dropped (its next metrics line averages fewer
    steps), which changes no weight."""
    sums = trainer.sums
    sums.reset()
    sums.names = []
    if "metric_names" not in payload:
        return
    values = payload["metric_sums"]
    sums.names = list(payload["metric_names"])
    sums.values[: len(sums.names)].copy_(values)
    sums.steps = int(payload["metric_steps"])
