"""Optional loggers beside ``metrics.jsonl``: TensorBoard (``logger: tensorboard``).

TensorBoard is an optional extra (``pip install 'ganzoo[tensorboard]'``); asking for it
without the package installed is one clear error before any training starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError

TENSORBOARD_FOLDER = "tensorboard"
MISSING = "the TensorBoard logger needs the optional extra: pip install 'ganzoo[tensorboard]'"


def _summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UsageError(MISSING) from None
    return SummaryWriter


def check_logger(name: str) -> None:
    """Fail now, not after the data and the model are ready, when the logger cannot run."""
    if name == "tensorboard":
        _summary_writer_class()


class TensorBoardLogger:
    """Scalars (train/*, eval/*) and the sample grid of the run, in ``RUN/tensorboard/``:
    ``tensorboard --logdir runs`` shows every run side by side."""

    def __init__(self, run_dir: Path):
        self.folder = run_dir / TENSORBOARD_FOLDER
        self.writer = _summary_writer_class()(log_dir=str(self.folder))

    def scalars(self, metrics: dict[str, Any]) -> None:
        step = metrics["step"]
        for key, value in metrics.items():
            if key not in ("step", "epoch") and isinstance(value, (int, float)):
                self.writer.add_scalar(f"train/{key}", value, step)

    def evaluation(self, step: int, results: dict[str, Any]) -> None:
        for key, value in results.items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(f"eval/{key}", value, step)

    def samples(self, step: int, grid: torch.Tensor) -> None:
        """``grid``: (3 or 1, H, W) floats in [0, 1]."""
        self.writer.add_image("samples", grid, step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def make_logger(name: str, run_dir: Path | None):
    return TensorBoardLogger(run_dir) if name == "tensorboard" and run_dir is not None else None
