"""What a checkpoint holds, assembled from the parts that own it, and continuing exactly
from one.

Each part saves and restores its own state: the trainer its counters and random state
(``step``, ``epoch``, ``elapsed_s``, ``rng``, ``data_order``), the metric sums the partial
log interval (``metric_names`` / ``metric_sums`` / ``metric_steps``), the EMA its
averaged weights (``generator_ema``), each callback what it carries (``callbacks``, by its
``state_key``), the step module its networks and extra state (``train_step``). Beside
them: ``model``, ``ganzoo_version``, ``generator``, ``discriminator``, ``optimizer_g``,
``optimizer_d`` (and ``step.NAME`` for the step's own optimisers), ``world_size`` and
``config``. Checkpoints of ganzoo 0.1 (no metric names, no step state) and of 0.2-0.5
(the evaluation's best classifier FID as ``best_classifier_fid``) load too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import CheckpointError, UsageError, first_line
from ..runs.checkpoint import keep_checkpoint
from ..runs.folder import RunFolder


def checkpoint_payload(trainer: Any, gather: bool = True) -> dict[str, Any]:
    """What a checkpoint of ``trainer`` (a :class:`~ganzoo.train.loop.Trainer`) holds.
    Under torchrun every rank must call this with ``gather`` (it collects each rank's
    random state and averages the metric sums); rank 0 writes it."""
    context = trainer.context
    payload = {
        "model": trainer.model.spec.name,
        "ganzoo_version": __version__,
        "generator": trainer.generator.state_dict(),
        "discriminator": trainer.discriminator.state_dict(),
        **{name: optimizer.state_dict() for name, optimizer in trainer.optimizers().items()},
        "train_step": trainer.train_step.state_dict(),
        **trainer.state_dict(gather=gather),
        **trainer.sums.state_dict(context if gather else None),
        "world_size": context.world_size,
        "callbacks": callback_states(trainer.callbacks),
        "config": {**trainer.config, "class_names": trainer.class_names},
    }
    if trainer.ema is not None:
        payload["generator_ema"] = trainer.ema.state_dict()
    return payload


def state_keys(callbacks: list[Any]) -> list[str]:
    """Each callback's key in a checkpoint: its ``state_key``, numbered from the second
    callback of the same key on (``Name#2``)."""
    keys: list[str] = []
    for callback in callbacks:
        key = callback.state_key
        keys.append(key if key not in keys else f"{key}#{sum(k.split('#')[0] == key for k in keys) + 1}")
    return keys


def callback_states(callbacks: list[Any]) -> dict[str, Any]:
    """The callbacks' states, by key; callbacks that keep none are left out."""
    states = {key: callback.state_dict() for key, callback in zip(state_keys(callbacks), callbacks)}
    return {key: state for key, state in states.items() if state}


def save_step_checkpoint(trainer: Any) -> None:
    """``checkpoints/step_NNNNNNN.pt`` (the newest ``keep_checkpoints`` kept) and ``last.pt``."""
    trainer.check_finite()
    payload = checkpoint_payload(trainer)
    if trainer.writes:
        folder = RunFolder(trainer.run_dir)
        keep_checkpoint(folder.checkpoints, folder.step_checkpoint_name(trainer.step), payload,
                        trainer.settings["keep_checkpoints"])


def restore(trainer: Any, payload: dict[str, Any], source: Path, *, other_data: bool = False) -> None:
    """Continue exactly where ``payload`` (a checkpoint of this run) stopped: every part
    takes back its state. On ``other_data`` (allowed by the user), with a fresh data order
    over the new images."""
    trained_with = int(payload.get("world_size", 1))
    if trained_with != trainer.context.world_size:
        raise UsageError(
            f"{source} was trained by {trained_with} process(es), this is {trainer.context.world_size}; resume with "
            + (f"torchrun --nproc-per-node {trained_with} -m ganzoo train ..." if trained_with > 1 else "one process")
        )
    try:
        _restore_parts(trainer, payload, other_data)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{source} does not fit this run's model and settings ({first_line(exc)})") from None
    if trainer.order.numel() not in (0, len(trainer.images)):
        raise CheckpointError(f"{source} was trained on {trainer.order.numel()} images, this data set has "
                              f"{len(trainer.images)}")


def _restore_parts(trainer: Any, payload: dict[str, Any], other_data: bool) -> None:
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
    trainer.load_state_dict(payload, other_data=other_data)
    trainer.sums.load_state_dict(payload)
    states = payload.get("callbacks")
    if states is None:  # before 0.6 the evaluation's best classifier FID was the only callback state
        states = {"PeriodicEvaluation": {"best_classifier_fid": payload.get("best_classifier_fid", math.inf)}}
    for key, callback in zip(state_keys(trainer.callbacks), trainer.callbacks):
        if key in states:
            callback.load_state_dict(states[key])
