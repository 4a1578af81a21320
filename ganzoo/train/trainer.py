"""The generic trainer: runs any registered model, knows none of them.

One step, on a batch of real images drawn by index from the device-resident uint8 data:

1. D step: generate ``x~ = G(z, c~)`` for random labels ``c~``; D loss from the Loss
   object on ``D(x)`` and ``D(x~.detach())``; step D.
2. G step: G loss from the Loss object on ``D(x~)``; step G.

Losses and accuracies accumulate on the device and are read only every ``log_every``
steps, so the step itself never waits for the host.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from tqdm import tqdm

from .. import BuiltModel, __version__
from ..data import ImageData
from ..errors import GanzooError, UsageError
from ..interfaces import DiscriminatorOutput
from .checkpoint import save_checkpoint

GRID_COLUMNS = 10


@dataclass
class TrainResult:
    steps: int
    epochs: int
    last_metrics: dict[str, Any]
    run_dir: Path | None


class Trainer:
    """Trains ``model`` on ``data`` with the run's settings, writing into ``run_dir``."""

    def __init__(
        self,
        model: BuiltModel,
        settings: dict[str, Any],
        data: ImageData,
        *,
        device: torch.device | str = "cpu",
        run_dir: Path | None = None,
        config: dict[str, Any] | None = None,
        progress: bool = True,
    ):
        self.model = model
        self.s = SimpleNamespace(**settings)
        self.device = torch.device(device)
        self.run_dir = run_dir
        self.config = config or {}
        self.progress = progress
        self.class_names = list(data.class_names)
        self.num_classes = data.num_classes

        if len(data) < self.s.batch_size:
            raise UsageError(f"the dataset has {len(data)} images, fewer than batch_size={self.s.batch_size}")
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.steps_per_epoch = len(data) // self.s.batch_size
        self.total_steps = self.s.epochs * self.steps_per_epoch
        if self.s.max_steps is not None:
            self.total_steps = min(self.total_steps, self.s.max_steps)
        if self.total_steps <= 0:
            raise UsageError("nothing to train: epochs and max_steps give 0 steps")

        self.generator = model.generator.to(self.device)
        self.discriminator = model.discriminator.to(self.device)
        self.loss = model.loss
        betas = tuple(self.s.betas)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.s.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.s.lr, betas=betas)

        # Noise, fake labels and data order come from one generator of their own; dropout
        # and other layer randomness use torch's global generator (seeded by the caller).
        self.rng = torch.Generator(device=self.device).manual_seed(self.s.seed)
        self.step = 0
        self.epoch = 0
        self._order = torch.empty(0, dtype=torch.long, device=self.device)
        self._fixed_z, self._fixed_labels = self._fixed_noise()
        self._sums = torch.zeros(3, device=self.device)
        self._sum_steps = 0
        self._has_class_head = False  # known after the first step; a host-side flag, no sync
        self.history: list[dict[str, Any]] = []

    # -- the step ----------------------------------------------------------------------
    def _fixed_noise(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One row per class, the same noise every time (seeded from the run's seed)."""
        rows = max(self.num_classes, 1)
        cpu = torch.Generator().manual_seed(self.s.seed + 1)
        z = torch.randn(rows * GRID_COLUMNS, self.generator.latent_dim, generator=cpu)
        labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS)
        return z.to(self.device), labels.to(self.device)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        position = self.step % self.steps_per_epoch
        if position == 0 or self._order.numel() == 0:
            self._order = torch.randperm(len(self.images), generator=self.rng, device=self.device)
        index = self._order[position * self.s.batch_size : (position + 1) * self.s.batch_size]
        real = self.images.index_select(0, index).float().div_(127.5).sub_(1.0)
        return real, self.labels.index_select(0, index)

    def train_step(self, real: torch.Tensor, labels: torch.Tensor) -> None:
        n = real.shape[0]
        z = self.generator.sample_latent(n, device=self.device, generator=self.rng)
        fake_labels = torch.randint(0, max(self.num_classes, 1), (n,), device=self.device, generator=self.rng)
        fake = self.generator(z, fake_labels if self.generator.conditional else None)

        self.opt_d.zero_grad(set_to_none=True)
        d_real = self.discriminator(real)
        d_fake = self.discriminator(fake.detach())
        d_loss = self.loss.discriminator_loss(d_real, d_fake, labels, fake_labels)
        d_loss.backward()
        self.opt_d.step()

        self.opt_g.zero_grad(set_to_none=True)
        g_loss = self.loss.generator_loss(self.discriminator(fake), fake_labels)
        g_loss.backward()
        self.opt_g.step()

        with torch.no_grad():
            self._sums[0] += d_loss.detach()
            self._sums[1] += g_loss.detach()
            if d_real.classes is not None:
                self._sums[2] += _class_accuracy(d_real, d_fake, labels, fake_labels)
        self._has_class_head = d_real.classes is not None
        self._sum_steps += 1

    # -- the loop ----------------------------------------------------------------------
    def fit(self) -> TrainResult:
        self.generator.train()
        self.discriminator.train()
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=not self.progress,
            unit="step",
            dynamic_ncols=True,
            mininterval=0.1 if sys.stderr.isatty() else 30.0,  # a log file gets a line now and then
        )
        metrics: dict[str, Any] = {}
        interval_start, interval_step = time.perf_counter(), self.step
        try:
            while self.step < self.total_steps:
                real, labels = self._batch()
                self.train_step(real, labels)
                self.step += 1
                self.epoch = self.step // self.steps_per_epoch
                bar.update(1)
                last = self.step == self.total_steps
                if self.step % self.s.log_every == 0 or last:
                    metrics = self._log(interval_start, interval_step)
                    interval_start, interval_step = time.perf_counter(), self.step
                    bar.set_postfix(d=f"{metrics['d_loss']:.3f}", g=f"{metrics['g_loss']:.3f}")
                if self.run_dir is not None:
                    if self.step % self.s.sample_every == 0 or last:
                        self.save_samples(self.run_dir / "samples" / f"step_{self.step:07d}.png")
                    if self.step % self.s.checkpoint_every == 0 or last:
                        self.save_checkpoint(self.run_dir / "checkpoints" / "last.pt")
        finally:
            bar.close()
        if self.run_dir is not None:
            plot_loss_curve(self.history, self.run_dir / "loss_curve.png")
        return TrainResult(self.step, self.epoch, metrics, self.run_dir)

    def _log(self, interval_start: float, interval_step: int) -> dict[str, Any]:
        d_loss, g_loss, accuracy = (self._sums / max(self._sum_steps, 1)).tolist()  # the one host sync
        elapsed = time.perf_counter() - interval_start
        metrics = {
            "step": self.step,
            "epoch": self.epoch,
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_class_accuracy": accuracy if self._has_class_head else None,
            "images_per_s": (self.step - interval_step) * self.s.batch_size / max(elapsed, 1e-9),
        }
        self._sums.zero_()
        self._sum_steps = 0
        if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
            where = f"; the last good checkpoint is in {self.run_dir / 'checkpoints'}" if self.run_dir else ""
            raise GanzooError(f"training diverged: a loss became non-finite by step {self.step}{where}")
        self.history.append(metrics)
        if self.run_dir is not None:
            with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(metrics) + "\n")
        return metrics

    # -- outputs -----------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """Images from the fixed noise, one row per class, as floats in [0, 1]."""
        self.generator.eval()
        try:
            labels = self._fixed_labels if self.generator.conditional else None
            images = self.generator(self._fixed_z, labels)
        finally:
            self.generator.train()
        return images.float().add(1).div(2).clamp(0, 1).cpu()

    def save_samples(self, path: Path) -> None:
        from torchvision.utils import save_image

        save_image(self.sample_grid(), path, nrow=GRID_COLUMNS, padding=2)

    def checkpoint_payload(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"trainer": self.rng.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "model": self.model.spec.name,
            "ganzoo_version": __version__,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizer_g": self.opt_g.state_dict(),
            "optimizer_d": self.opt_d.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "rng": rng,
            "config": {**self.config, "class_names": self.class_names},
        }

    def save_checkpoint(self, path: Path) -> None:
        save_checkpoint(path, self.checkpoint_payload())


def _class_accuracy(
    real: DiscriminatorOutput, fake: DiscriminatorOutput, labels: torch.Tensor, fake_labels: torch.Tensor
) -> torch.Tensor:
    """How often D's class head names the right class, on real and generated images."""
    hits = (real.classes.argmax(1) == labels).sum() + (fake.classes.argmax(1) == fake_labels).sum()
    return hits.float() / (labels.numel() + fake_labels.numel())


def plot_loss_curve(history: list[dict[str, Any]], path: Path) -> None:
    """D and G loss against the step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    steps = [m["step"] for m in history]
    ax.plot(steps, [m["d_loss"] for m in history], label="D loss")
    ax.plot(steps, [m["g_loss"] for m in history], label="G loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("Generator and discriminator loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
