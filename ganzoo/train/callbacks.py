"""What the loop does between steps, one job per callback, in this order after each step:

1. :class:`MetricsLog`: every ``log_every`` steps, one host read of the summed step
   values -> a ``metrics.jsonl`` line, the progress bar, the extra logger;
2. :class:`PeriodicEvaluation`: every ``eval_every`` steps, the classifier metrics ->
   ``metrics.jsonl``, and ``checkpoints/best.pt`` on a new best classifier FID;
3. :class:`SampleGrids`: every ``sample_every`` steps, ``samples/step_NNNNNNN.png``;
4. :class:`Checkpoints`: every ``checkpoint_every`` steps, a checkpoint;

and at the end (or when a signal stops the run) :class:`LossCurve` draws
``loss_curve.png``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..runs.folder import RunFolder, append_metrics

if TYPE_CHECKING:
    from .loop import Trainer


class Callback:
    def start(self, trainer: Trainer) -> None:
        pass

    def after_step(self, trainer: Trainer, last: bool) -> None:
        pass

    def end(self, trainer: Trainer) -> None:
        pass


def due(step: int, every: int | None, last: bool) -> bool:
    return bool(every) and (step % every == 0 or last)


class MetricsLog(Callback):
    def start(self, trainer: Trainer) -> None:
        self.interval_start, self.interval_step = _now(), trainer.step

    def after_step(self, trainer: Trainer, last: bool) -> None:
        if not due(trainer.step, trainer.settings["log_every"], last):
            return
        trainer.check_finite()
        means = trainer.sums.means(trainer.context)
        elapsed = _now() - self.interval_start
        metrics = {
            "step": trainer.step,
            "epoch": trainer.epoch,
            **means,
            "images_per_s": (trainer.step - self.interval_step) * trainer.global_batch / max(elapsed, 1e-9),
            "elapsed_s": round(trainer.elapsed(), 3),
        }
        if trainer.device.type == "cpu":  # fewer while other ganzoo jobs shared the cores (share_cores)
            share = trainer.core_share
            metrics["cpu_threads"] = share.fewest_threads() if share is not None else torch.get_num_threads()
        trainer.sums.reset()
        trainer.history.append(metrics)
        trainer.last_metrics = metrics
        if trainer.writes:
            append_metrics(trainer.run_dir, metrics)
        if trainer.logger is not None:
            trainer.logger.scalars(metrics)
        if "d_loss" in means and "g_loss" in means:
            trainer.bar.set_postfix(d=f"{means['d_loss']:.3f}", g=f"{means['g_loss']:.3f}")
        self.interval_start, self.interval_step = _now(), trainer.step


class PeriodicEvaluation(Callback):
    """Classifier metrics now; a new best classifier FID refreshes ``checkpoints/best.pt``."""

    def __init__(self) -> None:
        self.best_fid = math.inf

    def after_step(self, trainer: Trainer, last: bool) -> None:
        if trainer.evaluator is None or not due(trainer.step, trainer.settings["eval_every"], last):
            return
        from .state import checkpoint_payload
        from ..runs.checkpoint import save_checkpoint

        trainer.check_finite()
        results = trainer.evaluator(trainer.sampling_generator)  # samples in eval mode, then back
        record = {"step": trainer.step, "epoch": trainer.epoch, "eval": results}
        if not trainer.writes:
            return
        append_metrics(trainer.run_dir, record)
        if trainer.logger is not None:
            trainer.logger.evaluation(trainer.step, results)
        fid = results["classifier_fid"]
        if math.isfinite(fid) and fid < self.best_fid:
            self.best_fid = fid
            payload = checkpoint_payload(trainer, gather=False)  # rank 0 alone evaluates
            payload["best"] = {"step": trainer.step, "classifier_fid": fid}
            save_checkpoint(RunFolder(trainer.run_dir).best, payload)


class SampleGrids(Callback):
    def after_step(self, trainer: Trainer, last: bool) -> None:
        if trainer.writes and due(trainer.step, trainer.settings["sample_every"], last):
            save_sample_grid(trainer, RunFolder(trainer.run_dir).sample_grid(trainer.step))


class Checkpoints(Callback):
    def after_step(self, trainer: Trainer, last: bool) -> None:
        if trainer.run_dir is not None and due(trainer.step, trainer.settings["checkpoint_every"], last):
            trainer.checkpoint()


class LossCurve(Callback):
    def end(self, trainer: Trainer) -> None:
        if trainer.writes and trainer.history:
            plot_loss_curve(trainer.history, RunFolder(trainer.run_dir).loss_curve)


def default_callbacks(trainer: Trainer) -> list[Callback]:
    return [MetricsLog(), PeriodicEvaluation(), SampleGrids(), Checkpoints(), LossCurve()]


def evaluation_callback(trainer: Trainer) -> PeriodicEvaluation:
    return next(c for c in trainer.callbacks if isinstance(c, PeriodicEvaluation))


def save_sample_grid(trainer: Trainer, path: Path) -> None:
    from ..grids import save_png, tile
    from .loop import GRID_COLUMNS

    images = trainer.sample_grid()
    path.parent.mkdir(parents=True, exist_ok=True)  # a run folder copied without its empty samples/
    save_png(images, path, nrow=GRID_COLUMNS, padding=2)
    if trainer.logger is not None:
        trainer.logger.samples(trainer.step, tile(images, nrow=GRID_COLUMNS, padding=2))


def loss_curves(ax: Any, history: list[dict[str, Any]]) -> None:
    """D and G loss (and any other logged loss or penalty) against the step."""
    steps = [m["step"] for m in history]
    names = [k for k in history[-1] if k.startswith(("d_", "g_")) and k != "d_class_accuracy"]
    labels = {"d_loss": "D loss", "g_loss": "G loss"}
    for name in names:
        ax.plot(steps, [m.get(name, math.nan) for m in history], label=labels.get(name, name))
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    ax.legend()


def plot_loss_curve(history: list[dict[str, Any]], path: Path) -> None:
    """The losses against the step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    loss_curves(ax, history)
    ax.set_ylabel("loss")
    ax.set_title("Training losses")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _now() -> float:
    import time

    return time.perf_counter()
