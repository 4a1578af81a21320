"""The Weights & Biases logger (``--logger wandb``, ``pip install 'ganzoo[wandb]'``).

One W&B run per ganzoo run, named after the run folder, with the run's settings as its
config: the scalars of every metrics line (``train/*``), the ``eval_every`` metrics
(``eval/*``) and the sample grids (``samples``), each at its training step. The W&B run's
id and the last step logged to it are kept in ``RUN/wandb/ganzoo-run-id``, so ``--resume``
continues the same W&B run. W&B accepts only increasing steps: when a resumed run goes
back to steps it already logged (a rewind, or an interrupted stretch after the
checkpoint), the retraced steps go to a new W&B run, named "RUN (from step N)", whose
config names the earlier one (``continues_wandb_run``), rather than being dropped.

The project is ``$WANDB_PROJECT`` (else ``ganzoo``), the entity ``$WANDB_ENTITY``;
``WANDB_MODE=offline`` writes under ``RUN/wandb/`` for ``wandb sync`` later.
"""

from __future__ import annotations

import json
import netrc
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch

from ..errors import GanzooError, UsageError, first_line
from ..files import SETTINGS_LIMIT, read_limited, write_text_atomic
from ..grids import to_pil
from .loggers import named_numbers

WANDB_MISSING = "the Weights & Biases logger needs the optional extra: pip install 'ganzoo[wandb]'"
ID_FILE = "ganzoo-run-id"
LOCAL_MODES = ("offline", "disabled", "dryrun")


def _wandb():
    try:
        import wandb  # the optional extra ganzoo[wandb]
    except ImportError:
        raise UsageError(WANDB_MISSING) from None
    return wandb


def _logged_in() -> bool:
    """Whether W&B has an API key without asking for one: ``$WANDB_API_KEY`` or a
    ``~/.netrc`` entry for its server (what ``wandb login`` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandbLogger:
    """Scalars, evaluations and sample grids of a run in one Weights & Biases run."""

    def __init__(self, run_dir: Path, settings: dict[str, Any] | None = None):
        self.wandb = _wandb()
        self.run_dir = Path(run_dir)
        self.settings = dict(settings or {})
        self.resumed_at: int | None = None
        self.logged_step = -1
        self._run = None

    @staticmethod
    def check() -> None:
        """Fail before any work when W&B is missing or would ask for a login mid-run."""
        _wandb()
        if os.environ.get("WANDB_MODE", "").strip().lower() not in LOCAL_MODES and not _logged_in():
            raise UsageError("the Weights & Biases logger needs a login: run 'wandb login' (or set WANDB_API_KEY), "
                             "or set WANDB_MODE=offline to log under RUN/wandb/ and 'wandb sync' later")

    def resumed(self, step: int) -> None:
        self.resumed_at = step

    @property
    def record(self) -> Path:
        """The W&B run's id and the last step logged to it: ``{"id": ..., "step": ...}``."""
        return self.run_dir / "wandb" / ID_FILE

    @property
    def run(self):
        if self._run is None:  # started on first use, once resumed() has said where the run stands
            self._run = self._start()
        return self._run

    def _start(self):
        try:
            known = json.loads(read_limited(self.record, SETTINGS_LIMIT, "record of the W&B run"))
            known_id, known_step = str(known["id"]), int(known["step"])
        except (OSError, ValueError, KeyError, TypeError):  # a fresh run (or an unreadable record): a new W&B run
            known_id, known_step = None, -1
        if known_id is not None and (self.resumed_at is None or known_step <= self.resumed_at):
            self.logged_step = known_step
            return self._init(known_id, self.run_dir.name, resume="allow")
        # a new W&B run; an earlier one holds steps after the checkpoint and would drop the retraced ones
        name = self.run_dir.name if known_id is None else f"{self.run_dir.name} (from step {self.resumed_at})"
        return self._init(secrets.token_hex(4), name, resume=None, earlier=known_id)

    def _init(self, run_id: str, name: str, *, resume: str | None, earlier: str | None = None):
        self.record.parent.mkdir(parents=True, exist_ok=True)
        config = {**self.settings, **({"continues_wandb_run": earlier} if earlier else {})}
        try:
            run = self.wandb.init(project=os.environ.get("WANDB_PROJECT") or "ganzoo", name=name, id=run_id,
                                  dir=str(self.run_dir), config=config, resume=resume,
                                  settings=self.wandb.Settings(console="off"))
        except Exception as exc:  # its own errors: no network, a refused key, a bad project
            raise GanzooError(f"Weights & Biases could not start a run: {first_line(exc)}") from None
        self._remember(run.id)
        return run

    def _remember(self, run_id: str) -> None:
        write_text_atomic(self.record, json.dumps({"id": run_id, "step": self.logged_step}) + "\n")

    def _log(self, values: dict[str, Any], step: int) -> None:
        run = self.run
        run.log(values, step=step)
        if step > self.logged_step:
            self.logged_step = step
            self._remember(run.id)

    def scalars(self, metrics: dict[str, Any]) -> None:
        self._log(named_numbers(metrics, "train"), metrics["step"])

    def evaluation(self, step: int, results: dict[str, Any]) -> None:
        self._log(named_numbers(results, "eval"), step)

    def samples(self, step: int, grid: torch.Tensor) -> None:
        """``grid``: (3 or 1, H, W) floats in [0, 1], given to W&B as 8-bit pixels (as the PNGs are)."""
        self._log({"samples": self.wandb.Image(np.asarray(to_pil(grid)))}, step)

    def close(self) -> None:
        if self._run is not None:
            self._run.finish()
