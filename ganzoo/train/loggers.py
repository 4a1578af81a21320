"""Extra loggers beside ``metrics.jsonl``, chosen with ``--set logger=NAME`` (or
``--logger NAME``; ``tensorboard,wandb`` for both) among the registered ones. The
built-in plugin registers ``tensorboard`` and ``wandb``; a plugin adds others through the
``register_loggers`` hook.

A logger is made by ``factory(run_dir, settings)`` on the process that writes the run
folder, and gets ``scalars(metrics)`` at every metrics line, ``evaluation(step, results)``
at every ``eval_every``, ``samples(step, grid)`` with every sample grid (a (C, H, W)
float tensor in [0, 1]) and ``close()`` at the end. A resumed run calls its optional
``resumed(step)`` first, before anything is logged: what the logger holds beyond ``step``
was logged by the part of the run that the checkpoint did not keep (an interrupted
stretch, or what a rewind set aside), and the run logs those steps again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch

from ..errors import UsageError, did_you_mean
from ..plugins import get_host
from ..runs.folder import RunFolder
from ..settings import name_list

NO_LOGGER = "none"
TENSORBOARD_MISSING = "the TensorBoard logger needs the optional extra: pip install 'ganzoo[tensorboard]'"


class Logger(Protocol):
    """What a logger's factory makes (``register_loggers``: ``factory(run_dir, settings)``),
    on the process that writes the run folder; ``resumed`` is optional."""

    def scalars(self, metrics: dict[str, Any]) -> None:
        """A metrics line, as metrics.jsonl has it: ``step``, ``epoch``, the step's named
        values (``d_loss``, ``g_loss``, ...), ``images_per_s``, ``elapsed_s``, ``cpu_threads``."""

    def evaluation(self, step: int, results: dict[str, Any]) -> None:
        """The classifier metrics of ``eval_every`` at ``step`` (``classifier_fid``, ...)."""

    def samples(self, step: int, grid: torch.Tensor) -> None:
        """The sample grid of ``step``: a (3 or 1, H, W) float tensor in [0, 1], one row per class."""

    def close(self) -> None:
        """The run ended (or stopped): flush and let go."""

    def resumed(self, step: int) -> None:
        """Optional: a resumed run continues after ``step``, before anything is logged;
        what the logger holds beyond ``step`` is logged again."""


def _summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter  # the optional extra ganzoo[tensorboard]
    except ImportError:
        raise UsageError(TENSORBOARD_MISSING) from None
    return SummaryWriter


def logger_names(value: str) -> list[str]:
    """The loggers a ``logger`` setting names: ``tensorboard,wandb`` is both, ``none`` none."""
    return name_list(value, "logger")


def check_logger(value: str) -> None:
    """Fail now, not after the data and the model are ready, when a logger cannot run."""
    loggers = get_host().loggers
    for name in logger_names(value):
        if name not in loggers:
            raise UsageError(f"unknown logger {name!r}{did_you_mean(name, [NO_LOGGER, *loggers])}")
        check = getattr(loggers.get(name).factory, "check", None)
        if callable(check):
            check()


def named_numbers(values: dict[str, Any], prefix: str) -> dict[str, int | float]:
    """The numbers of a metrics line or an evaluation, named ``PREFIX/key``: what every
    logger plots (``step`` and ``epoch`` are the axis, not values)."""
    return {f"{prefix}/{key}": value for key, value in values.items()
            if key not in ("step", "epoch") and isinstance(value, (int, float))}


class TensorBoardLogger:
    """Scalars (train/*, eval/*) and the sample grid of the run, in ``RUN/tensorboard/``:
    ``tensorboard --logdir runs`` shows every run side by side."""

    def __init__(self, run_dir: Path, settings: dict[str, Any] | None = None):
        self.folder = RunFolder(run_dir).tensorboard
        self._writer_class = _summary_writer_class()
        self._writer = None
        self.purge_step: int | None = None

    @property
    def writer(self):
        if self._writer is None:  # made on first use, so that a resumed run can ask for a purge first
            self._writer = self._writer_class(log_dir=str(self.folder), purge_step=self.purge_step)
        return self._writer

    def resumed(self, step: int) -> None:
        """Hide the events of steps after ``step`` that earlier writers left: TensorBoard's
        own purge (a session-start event at ``step + 1``), so the logged steps are those of
        metrics.jsonl, once each."""
        self.purge_step = step + 1

    @staticmethod
    def check() -> None:
        _summary_writer_class()

    def scalars(self, metrics: dict[str, Any]) -> None:
        for name, value in named_numbers(metrics, "train").items():
            self.writer.add_scalar(name, value, metrics["step"])

    def evaluation(self, step: int, results: dict[str, Any]) -> None:
        for name, value in named_numbers(results, "eval").items():
            self.writer.add_scalar(name, value, step)

    def samples(self, step: int, grid: torch.Tensor) -> None:
        """``grid``: (3 or 1, H, W) floats in [0, 1]."""
        self.writer.add_image("samples", grid, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()


class Loggers:
    """Several loggers as one (``logger: tensorboard,wandb``): each call goes to each."""

    def __init__(self, loggers: list[Any]):
        self.loggers = loggers

    def resumed(self, step: int) -> None:
        for logger in self.loggers:
            on_resume = getattr(logger, "resumed", None)
            if callable(on_resume):
                on_resume(step)

    def scalars(self, metrics: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.scalars(metrics)

    def evaluation(self, step: int, results: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.evaluation(step, results)

    def samples(self, step: int, grid: torch.Tensor) -> None:
        for logger in self.loggers:
            logger.samples(step, grid)

    def close(self) -> None:
        """Close every one, even when one fails (the first failure is raised after)."""
        failure = None
        for logger in self.loggers:
            try:
                logger.close()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure


def make_logger(value: str, run_dir: Path | None, settings: dict[str, Any]):
    """The logger(s) the ``logger`` setting names, or None."""
    names = logger_names(value)
    if not names or run_dir is None:
        return None
    made = [get_host().loggers.get(name).factory(run_dir, settings) for name in names]
    return made[0] if len(made) == 1 else Loggers(made)
