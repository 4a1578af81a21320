"""What happens between training steps: callbacks, each with one job and its own state.

A :class:`Callback` (as Lightning's) is called at the start of :meth:`Trainer.fit
<ganzoo.train.loop.Trainer.fit>`, after every step and at the end (also when a signal
stops the run); what it must carry across a resume it returns from ``state_dict`` and
takes back in ``load_state_dict``, and every checkpoint holds it. The built-in ones run in
this order after each step:

1. :class:`MetricsLog`: every ``log_every`` steps, one host read of the summed step
   values -> a metrics line (``metrics.jsonl``, the progress bar, the loggers);
2. your callbacks (``gz.train(..., callbacks=[...])``, or the ``register_callbacks`` hook
   and the ``callbacks`` setting), in the order given;
3. :class:`PeriodicEvaluation`: every ``eval_every`` steps, the classifier metrics ->
   ``metrics.jsonl``, and ``checkpoints/best.pt`` on a new best classifier FID;
4. :class:`SampleGrids`: every ``sample_every`` steps, ``samples/step_NNNNNNN.png``;
5. :class:`Checkpoints`: every ``checkpoint_every`` steps, a checkpoint (which then holds
   every callback's state after this step);

and at the end :class:`LossCurve` draws ``loss_curve.png`` from ``metrics.jsonl``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import torch

from ..errors import PluginError, UsageError, did_you_mean
from ..grids import save_png, tile
from ..plots import save_loss_curve
from ..plugins import get_host
from ..runs.checkpoint import save_checkpoint
from ..runs.folder import RunFolder, metric_records
from ..settings import name_list
from .state import checkpoint_payload, save_step_checkpoint

GRID_COLUMNS = 10


class Callback:
    """Called by the trainer (``trainer``: :class:`ganzoo.train.loop.Trainer`) at the start
    of ``fit``, after each step (``last``: the run's final step) and at the end. State it
    must keep across a resume goes in ``state_dict`` (plain data and tensors: a checkpoint
    is read back with ``weights_only=True``) and comes back through ``load_state_dict``,
    under ``state_key`` (its class name by default)."""

    def start(self, trainer: Any) -> None:
        """Before this process's first step (a resumed run: after its state came back)."""

    def after_step(self, trainer: Any, last: bool) -> None:
        """After each step; ``last``: the budget's final one."""

    def end(self, trainer: Any) -> None:
        """At the end of ``fit``, and when a signal stops the run."""

    def state_dict(self) -> dict[str, Any]:
        """What to keep in every checkpoint (plain data and tensors); empty: nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` gave, when a run resumes."""

    @property
    def state_key(self) -> str:
        """The callback's key among a checkpoint's ``callbacks`` (its class name)."""
        return type(self).__qualname__


def due(step: int, every: int | None, last: bool) -> bool:
    return bool(every) and (step % every == 0 or last)


class MetricsLog(Callback):
    """Every ``log_every`` steps: the interval's means of the step's values, its images per
    second, the training time and (on the CPU) the threads it had, as one metrics line."""

    def start(self, trainer: Any) -> None:
        self.interval_start, self.interval_step = time.perf_counter(), trainer.step

    def after_step(self, trainer: Any, last: bool) -> None:
        if not due(trainer.step, trainer.settings["log_every"], last):
            return
        trainer.check_finite()
        means = trainer.sums.means(trainer.context)
        elapsed = time.perf_counter() - self.interval_start
        line = {
            "step": trainer.step,
            "epoch": trainer.epoch,
            **means,
            "images_per_s": (trainer.step - self.interval_step) * trainer.global_batch / max(elapsed, 1e-9),
            "elapsed_s": round(trainer.elapsed(), 3),
        }
        if trainer.device.type == "cpu":  # fewer while other ganzoo jobs shared the cores (share_cores)
            line["cpu_threads"] = trainer.cpu_threads()
        trainer.sums.reset()
        trainer.record(line)
        self.interval_start, self.interval_step = time.perf_counter(), trainer.step


class PeriodicEvaluation(Callback):
    """Classifier metrics now; a new best classifier FID refreshes ``checkpoints/best.pt``."""

    def __init__(self) -> None:
        self.best_fid = math.inf

    def after_step(self, trainer: Any, last: bool) -> None:
        if trainer.evaluator is None or not due(trainer.step, trainer.settings["eval_every"], last):
            return
        trainer.check_finite()
        results = trainer.evaluator(trainer.sampling_generator)  # samples in eval mode, then back
        if not trainer.writes:
            return
        trainer.record_evaluation(results)
        fid = results["classifier_fid"]
        if math.isfinite(fid) and fid < self.best_fid:
            self.best_fid = fid
            payload = checkpoint_payload(trainer, gather=False)  # rank 0 alone evaluates
            payload["best"] = {"step": trainer.step, "classifier_fid": fid}
            save_checkpoint(RunFolder(trainer.run_dir).best, payload)

    def state_dict(self) -> dict[str, Any]:
        return {"best_classifier_fid": self.best_fid}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_fid = float(state.get("best_classifier_fid", math.inf))


class SampleGrids(Callback):
    """Every ``sample_every`` steps, the sampling generator's images of a fixed noise, one
    row per class (``GRID_COLUMNS`` each), as ``samples/step_NNNNNNN.png`` and to the loggers."""

    def start(self, trainer: Any) -> None:
        rows = max(trainer.num_classes, 1)
        cpu = torch.Generator().manual_seed(trainer.settings["seed"] + 1)  # the same noise every time
        self.z = trainer.generator.sample_latent(rows * GRID_COLUMNS, generator=cpu).to(trainer.device)
        self.labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS).to(trainer.device)

    def after_step(self, trainer: Any, last: bool) -> None:
        if trainer.writes and due(trainer.step, trainer.settings["sample_every"], last):
            path = RunFolder(trainer.run_dir).sample_grid(trainer.step)
            images = self.images(trainer)
            path.parent.mkdir(parents=True, exist_ok=True)  # a run folder copied without its empty samples/
            save_png(images, path, nrow=GRID_COLUMNS, padding=2)
            if trainer.logger is not None:
                trainer.logger.samples(trainer.step, tile(images, nrow=GRID_COLUMNS, padding=2))

    @torch.no_grad()
    def images(self, trainer: Any) -> torch.Tensor:
        """The grid's images, as floats in [0, 1] on the CPU."""
        generator = trainer.sampling_generator
        was_training = generator.training
        generator.eval()
        try:
            with trainer.plan.autocast():
                images = generator(self.z, self.labels if generator.conditional else None)
        finally:
            generator.train(was_training)
        return images.float().add(1).div(2).clamp(0, 1).cpu()


class Checkpoints(Callback):
    def after_step(self, trainer: Any, last: bool) -> None:
        if trainer.run_dir is not None and due(trainer.step, trainer.settings["checkpoint_every"], last):
            save_step_checkpoint(trainer)


class LossCurve(Callback):
    """At the end, the run's losses (every metrics line, those of earlier stretches of a
    resumed run too) as ``loss_curve.png``."""

    def end(self, trainer: Any) -> None:
        if not trainer.writes:
            return
        lines = [record for record in metric_records(trainer.run_dir) if "eval" not in record]
        if lines:
            save_loss_curve(lines, RunFolder(trainer.run_dir).loss_curve)


def check_callbacks(value: str) -> None:
    """Fail now, not after the data and the model are ready, on a ``callbacks`` setting
    that names no registered callback."""
    registered = get_host().callbacks
    for name in name_list(value, "callback"):
        if name not in registered:
            raise UsageError(f"unknown callback {name!r}{did_you_mean(name, ['none', *registered])}")


def plugin_callbacks(value: str, settings: Any) -> list[Callback]:
    """The callbacks the ``callbacks`` setting names, made by their plugins' factories."""
    made = []
    for name in name_list(value, "callback"):
        callback = get_host().callbacks.get(name).factory(settings)
        if not isinstance(callback, Callback):
            raise PluginError(f"callback {name!r} of plugin {get_host().callbacks.owner(name)!r} made "
                              f"{type(callback).__name__}, not a ganzoo.Callback")
        made.append(callback)
    return made


def default_callbacks(yours: Iterable[Callback] = ()) -> list[Callback]:
    """The built-in callbacks with ``yours`` in their place (after the metrics line, before
    the evaluation, the sample grid and the checkpoint of the step)."""
    return [MetricsLog(), *yours, PeriodicEvaluation(), SampleGrids(), Checkpoints(), LossCurve()]
