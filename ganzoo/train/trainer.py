"""The generic trainer: runs any registered model, knows none of them.

One step, on batches of real images drawn by index from the device-resident uint8 data:

1. ``n_critic`` D steps, each on a new real batch: generate ``x~ = G(z, c~)`` for random
   labels ``c~``; D loss from the Loss object on ``D(x)`` and ``D(x~.detach())``, plus
   the loss's ``discriminator_penalty`` when it has one (a gradient penalty); step D.
2. G step: G loss from the Loss object on ``D(x~)`` of the last D step's ``x~``; step G.

A conditional discriminator (``uses_labels``) is called as ``D(x, labels)``.

Losses and accuracies accumulate on the device and are read only every ``log_every``
steps, so the step itself never waits for the host. On CUDA the whole step is captured
once in a CUDA graph and replayed (``cuda_graph``); bf16 autocast and channels-last are
chosen by ``precision`` and ``channels_last``, the upsampling convolutions' form by
``fused_upsample`` (see ``fast.py``).

Everything random comes from seeded generators whose states go into every checkpoint,
with the epoch's data order, so ``--resume`` continues exactly (bitwise on the CPU in fp32).

Under torchrun (``distributed.py``) G and D are wrapped in DistributedDataParallel. Every
rank draws the same global permutation, noise and labels from the run's generator and
takes its own slice of each, so N ranks with ``batch_size`` B train on exactly the global
batch of N x B that one process would draw; rank 0 alone writes the run folder.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import torch
from tqdm import tqdm

from .. import BuiltModel, __version__
from .. import distributed
from ..distributed import SINGLE, Context
from ..data import ImageData
from ..errors import CheckpointError, GanzooError, UsageError, first_line
from ..interfaces import DiscriminatorOutput, discriminator_penalty
from ..layers import set_fused_upsample
from ..recipes import TRAIN_SETTINGS
from .checkpoint import keep_checkpoint, save_checkpoint
from .fast import GraphedStep, make_adam, plan_speed, prepare_optimizer_state, training_state

GRID_COLUMNS = 10


@dataclass
class TrainResult:
    steps: int
    epochs: int
    last_metrics: dict[str, Any]
    run_dir: Path | None


class TrainingInterrupted(GanzooError):
    """SIGINT or SIGTERM arrived: the step finished, a checkpoint was saved."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.exit_code = 128 + signum


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
        evaluator: Callable[[torch.nn.Module], dict[str, Any]] | None = None,
        context: Context = SINGLE,
    ):
        self.model = model
        self.evaluator = evaluator  # classifier metrics every eval_every steps (ganzoo.evaluate)
        self.best_fid = math.inf
        self.settings = dict(settings)
        self.s = SimpleNamespace(**{key: setting.default for key, setting in TRAIN_SETTINGS.items()})
        self.s.__dict__.update(settings)
        self.device = torch.device(device)
        self.run_dir = run_dir
        self.config = config or {}
        self.context = context
        self.progress = progress and context.is_main
        self.class_names = list(data.class_names)
        self.num_classes = data.num_classes
        self.plan = plan_speed(self.settings, self.device)
        if context.enabled and self.plan.cuda_graph:  # DDP's all-reduce runs outside the graph
            self.plan = replace(self.plan, cuda_graph=False)

        self.global_batch = self.s.batch_size * context.world_size
        if len(data) < self.global_batch:
            raise UsageError(f"the dataset has {len(data)} images, fewer than one global batch of {self.global_batch} "
                             f"(batch_size={self.s.batch_size} x {context.world_size} processes)")
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.batches_per_epoch = len(data) // self.global_batch  # one D update per batch
        self.total_steps = self.budget(self.s.epochs, self.s.max_steps)

        memory_format = self.plan.memory_format
        self.generator = model.generator.to(self.device, memory_format=memory_format)
        self.discriminator = model.discriminator.to(self.device, memory_format=memory_format)
        for module in (self.generator, self.discriminator):
            set_fused_upsample(module, self.plan.fused_upsample)
        if context.enabled and self.s.sync_batchnorm:
            if self.device.type != "cuda":
                raise UsageError("sync_batchnorm needs CUDA: PyTorch's SyncBatchNorm runs on GPUs only")
            self.generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.generator)
            self.discriminator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.discriminator)
        # What the D and G steps call: the modules in DDP under torchrun, else the modules.
        self._g_train = distributed.wrap(self.generator, self.device, context)
        self._d_train = distributed.wrap(self.discriminator, self.device, context)
        self.loss = model.loss
        self.penalty = discriminator_penalty(self.loss)
        self.opt_g = make_adam(self.generator.parameters(), lr=self.s.lr, betas=self.s.betas, plan=self.plan)
        self.opt_d = make_adam(self.discriminator.parameters(), lr=self.s.lr, betas=self.s.betas, plan=self.plan)

        # Noise, fake labels and data order come from one generator of their own, the same
        # on every rank; dropout and other layer randomness use torch's global generator
        # (seeded by the caller, differently on each rank).
        self.rng = torch.Generator(device=self.device).manual_seed(self.s.seed)
        self.step = 0
        self.epoch = 0
        self._order = torch.empty(0, dtype=torch.long, device=self.device)
        self._fixed_z, self._fixed_labels = self._fixed_noise()
        self._sums = torch.zeros(len(SUMS), device=self.device)
        self.elapsed_s = 0.0  # training wall time of the run, carried across resumes
        self._clock: tuple[float, float] | None = None  # (perf_counter at fit start, elapsed_s then)
        self._sum_steps = 0
        self._has_class_head = False  # known after the first step; a host-side flag, no sync
        self._graphed: GraphedStep | None = None
        self._stop_signal: int | None = None
        self.logger = None  # an extra logger (TensorBoard) on the writing rank, set by the caller
        self.history: list[dict[str, Any]] = []  # the loss lines of metrics.jsonl
        self.eval_history: list[dict[str, Any]] = []  # its eval lines

    def budget(self, epochs: int, max_steps: int | None) -> int:
        """Generator steps: each takes ``n_critic`` batches, an epoch is every batch once."""
        total = epochs * self.batches_per_epoch // self.s.n_critic
        if max_steps is not None:
            total = min(total, max_steps)
        if total <= 0:
            raise UsageError("nothing to train: epochs and max_steps give 0 steps")
        return total

    # -- the step ----------------------------------------------------------------------
    def _fixed_noise(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One row per class, the same noise every time (seeded from the run's seed)."""
        rows = max(self.num_classes, 1)
        cpu = torch.Generator().manual_seed(self.s.seed + 1)
        z = torch.randn(rows * GRID_COLUMNS, self.generator.latent_dim, generator=cpu)
        labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS)
        return z.to(self.device), labels.to(self.device)

    def _draw_inputs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The step's random inputs, one row per D update (``n_critic`` rows), always drawn
        in the same order from ``self.rng``: the epoch's data order (at an epoch start),
        then noise, then fake labels, each for the global batch; this rank keeps its slice."""
        n, updates, total = self.s.batch_size, self.s.n_critic, self.global_batch
        mine = slice(self.context.rank * n, (self.context.rank + 1) * n)
        index, z, fake_labels = [], [], []
        for update in range(self.step * updates, (self.step + 1) * updates):
            position = update % self.batches_per_epoch
            if position == 0 or self._order.numel() == 0:
                self._order = torch.randperm(len(self.images), generator=self.rng, device=self.device)
            index.append(self._order[position * total : (position + 1) * total][mine])
            z.append(self.generator.sample_latent(total, device=self.device, generator=self.rng)[mine])
            labels = torch.randint(0, max(self.num_classes, 1), (total,), device=self.device, generator=self.rng)
            fake_labels.append(labels[mine])
        return _rows(index), _rows(z), _rows(fake_labels)

    def _real_batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        real = self.images.index_select(0, index).float().div_(127.5).sub_(1.0)
        return real.contiguous(memory_format=self.plan.memory_format), self.labels.index_select(0, index)

    def _step(self, index: torch.Tensor, z: torch.Tensor, fake_labels: torch.Tensor, *, graphed: bool = False) -> None:
        """``n_critic`` D steps and one G step on the given inputs (one row per D step);
        no host synchronisation."""
        conditional = self.generator.conditional
        critic = self._d_step_critic
        to_none = not graphed  # a captured graph keeps its gradient buffers and zeroes them
        updates = index.shape[0]
        for i in range(updates):
            real, labels = self._real_batch(index[i])
            last = i == updates - 1
            with self.plan.autocast(for_graph=graphed):
                with torch.set_grad_enabled(last):  # only the last fake batch feeds the G step
                    fake = self._g_train(z[i], fake_labels[i] if conditional else None)
                d_real = critic(real, labels)
                d_fake = critic(fake.detach(), fake_labels[i])
                d_loss = self.loss.discriminator_loss(d_real, d_fake, labels, fake_labels[i])
                penalty = self.penalty(critic, real, fake.detach(), labels, fake_labels[i]) if self.penalty else None
            self.opt_d.zero_grad(set_to_none=to_none)
            (d_loss if penalty is None else d_loss + penalty).backward()
            self.opt_d.step()
            with torch.no_grad():
                self._sums[D_LOSS] += d_loss.detach().float() / updates
                if penalty is not None:
                    self._sums[D_PENALTY] += penalty.detach().float() / updates
                if d_real.classes is not None:
                    self._sums[D_ACCURACY] += _class_accuracy(d_real, d_fake, labels, fake_labels[i]) / updates

        # D's weights get no gradient from the G loss: skip computing it (and call D
        # itself, not its DDP wrapper, which would wait for gradients that never come).
        self.discriminator.requires_grad_(False)
        try:
            with self.plan.autocast(for_graph=graphed):
                g_loss = self.loss.generator_loss(self.discriminator.critic(fake, fake_labels[-1]), fake_labels[-1])
            self.opt_g.zero_grad(set_to_none=to_none)
            g_loss.backward()
        finally:
            self.discriminator.requires_grad_(True)
        self.opt_g.step()
        with torch.no_grad():
            self._sums[G_LOSS] += g_loss.detach().float()
        self._has_class_head = d_real.classes is not None

    def _d_step_critic(self, images: torch.Tensor, labels: torch.Tensor | None):
        """D (through DDP under torchrun), called with the labels when it reads them."""
        if self.discriminator.uses_labels:
            return self._d_train(images, labels)
        return self._d_train(images)

    def train_step(self) -> None:
        """Draw the inputs and run one step, replaying the CUDA graph when there is one."""
        index, z, fake_labels = self._draw_inputs()
        if self._graphed is not None:
            self._graphed(index, z, fake_labels)
        else:
            self._step(index, z, fake_labels)
        self._sum_steps += 1

    def _capture(self) -> None:
        """Capture the step in a CUDA graph; on any failure, say so and stay eager."""
        if not self.plan.cuda_graph or self._graphed is not None:
            return
        n, updates = self.s.batch_size, self.s.n_critic
        throwaway = torch.Generator(device=self.device).manual_seed(0)  # leaves every run RNG alone
        z = self.generator.sample_latent(n * updates, device=self.device, generator=throwaway)
        inputs = (
            torch.zeros(updates, n, dtype=torch.long, device=self.device),
            z.view(updates, n, *z.shape[1:]),
            torch.zeros(updates, n, dtype=torch.long, device=self.device),
        )
        for optimizer in (self.opt_d, self.opt_g):
            prepare_optimizer_state(optimizer)
        state = training_state([self.generator, self.discriminator], [self.opt_d, self.opt_g]) + [self._sums]
        try:
            self._graphed = GraphedStep(lambda *x: self._step(*x, graphed=True), inputs, state)
        except Exception as exc:  # capture is an optimisation: fall back, never fail the run
            torch.cuda.synchronize(self.device)
            self._graphed = None
            self.plan = replace(self.plan, cuda_graph=False)
            print(f"ganzoo: CUDA graph capture failed, training eagerly ({first_line(exc)})", file=sys.stderr)

    # -- the loop ----------------------------------------------------------------------
    def fit(self) -> TrainResult:
        self.generator.train()
        self.discriminator.train()
        self._capture()
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
        self._clock = (interval_start, self.elapsed_s)
        try:
            with self._signals_caught():
                while self.step < self.total_steps:
                    self.train_step()
                    self.step += 1
                    self.epoch = self.step * self.s.n_critic // self.batches_per_epoch
                    bar.update(1)
                    last = self.step == self.total_steps
                    if self.step % self.s.log_every == 0 or last:
                        metrics = self._log(interval_start, interval_step)
                        interval_start, interval_step = time.perf_counter(), self.step
                        bar.set_postfix(d=f"{metrics['d_loss']:.3f}", g=f"{metrics['g_loss']:.3f}")
                    if self.evaluator is not None and self.s.eval_every and (self.step % self.s.eval_every == 0 or last):
                        self._evaluate()
                    if self.run_dir is not None:
                        if self.writes and (self.step % self.s.sample_every == 0 or last):
                            self.save_samples(self.run_dir / "samples" / f"step_{self.step:07d}.png")
                        if self.step % self.s.checkpoint_every == 0 or last:
                            self.checkpoint()
                    if self._should_stop(last):
                        self._stop()
        finally:
            bar.close()
            if self.logger is not None:
                self.logger.close()
        if self.writes:
            plot_loss_curve(self.history, self.run_dir / "loss_curve.png")
        return TrainResult(self.step, self.epoch, metrics, self.run_dir)

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder (rank 0 of a run that has one)."""
        return self.run_dir is not None and self.context.is_main

    def _should_stop(self, last: bool) -> bool:
        """A signal arrived (on any rank: under torchrun the ranks agree every
        ``STOP_CHECK_EVERY`` steps, so they all stop after the same step)."""
        if not self.context.enabled:
            return self._stop_signal is not None
        if self.step % STOP_CHECK_EVERY and not last:
            return False
        if distributed.any_rank(self._stop_signal is not None, self.device, self.context):
            self._stop_signal = self._stop_signal or signal.SIGTERM
            return True
        return False

    @contextmanager
    def _signals_caught(self) -> Iterator[None]:
        """SIGINT / SIGTERM end the run after the current step (see ``_stop``)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def note(signum: int, frame: Any) -> None:
            self._stop_signal = signum

        previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self) -> None:
        signum = self._stop_signal
        name = signal.Signals(signum).name
        if self.run_dir is None:
            raise TrainingInterrupted(signum, f"interrupted by {name} at step {self.step}")
        self.checkpoint()  # refuses (diverged) rather than save non-finite weights
        if self.history and self.writes:
            plot_loss_curve(self.history, self.run_dir / "loss_curve.png")
        model = self.model.spec.name
        raise TrainingInterrupted(
            signum,
            f"interrupted by {name} at step {self.step}/{self.total_steps}; checkpoint saved; "
            f"resume with: ganzoo train {model} --resume {self.run_dir}",
        )

    def _evaluate(self) -> None:
        """Classifier metrics now; a new best classifier FID refreshes ``checkpoints/best.pt``."""
        self._check_finite()
        results = self.evaluator(self.generator)  # samples in eval mode, then back to train mode
        record = {"step": self.step, "epoch": self.epoch, "eval": results}
        self.eval_history.append(record)
        if not self.writes:
            return
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.logger is not None:
            self.logger.evaluation(self.step, results)
        fid = results["classifier_fid"]
        if math.isfinite(fid) and fid < self.best_fid:
            self.best_fid = fid
            payload = self.checkpoint_payload(gather=False)  # rank 0 alone evaluates
            payload["best"] = {"step": self.step, "classifier_fid": fid}
            save_checkpoint(self.run_dir / "checkpoints" / "best.pt", payload)

    def _elapsed(self) -> float:
        if self._clock is None:  # not fitting yet
            return self.elapsed_s
        started, before = self._clock
        return before + time.perf_counter() - started

    def _check_finite(self) -> None:
        """Refuse to go on (or to checkpoint) once a loss has become NaN or infinite."""
        if not bool(torch.isfinite(self._sums).all()):
            where = f"; the last good checkpoint is in {self.run_dir / 'checkpoints'}" if self.run_dir else ""
            raise GanzooError(f"training diverged: a loss became non-finite by step {self.step}{where}")

    def _log(self, interval_start: float, interval_step: int) -> dict[str, Any]:
        self._check_finite()
        averaged = distributed.mean_over_ranks(self._sums / max(self._sum_steps, 1), self.context)
        means = dict(zip(SUMS, averaged.tolist()))  # the one host sync
        elapsed = time.perf_counter() - interval_start
        metrics = {
            "step": self.step,
            "epoch": self.epoch,
            "d_loss": means["d_loss"],
            "g_loss": means["g_loss"],
            "d_class_accuracy": means["d_class_accuracy"] if self._has_class_head else None,
            "images_per_s": (self.step - interval_step) * self.global_batch / max(elapsed, 1e-9),
            "elapsed_s": round(self._elapsed(), 3),
        }
        if self.penalty is not None:
            metrics["d_penalty"] = means["d_penalty"]
        self._sums.zero_()
        self._sum_steps = 0
        self.history.append(metrics)
        if self.writes:
            with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(metrics) + "\n")
        if self.logger is not None:
            self.logger.scalars(metrics)
        return metrics

    # -- outputs -----------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """Images from the fixed noise, one row per class, as floats in [0, 1]."""
        self.generator.eval()
        try:
            labels = self._fixed_labels if self.generator.conditional else None
            with self.plan.autocast():
                images = self.generator(self._fixed_z, labels)
        finally:
            self.generator.train()
        return images.float().add(1).div(2).clamp(0, 1).cpu()

    def save_samples(self, path: Path) -> None:
        from torchvision.utils import make_grid, save_image

        images = self.sample_grid()
        save_image(images, path, nrow=GRID_COLUMNS, padding=2)
        if self.logger is not None:
            self.logger.samples(self.step, make_grid(images, nrow=GRID_COLUMNS, padding=2))

    # -- checkpoints and resume --------------------------------------------------------
    def checkpoint_payload(self, gather: bool = True) -> dict[str, Any]:
        """What a checkpoint holds. Under torchrun every rank must call this with
        ``gather`` (it collects each rank's layer-randomness state); rank 0 writes it."""
        rng: dict[str, Any] = {"trainer": self.rng.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        if self.context.enabled and gather:
            per_rank = distributed.gather_objects({k: v.cpu() for k, v in rng.items() if k != "trainer"}, self.context)
            rng["per_rank"] = per_rank
        # The unlogged steps' sums, averaged over the ranks: every rank resumes from them,
        # and the mean of (averaged old + own new) sums is the mean over ranks of the interval.
        sums = distributed.mean_over_ranks(self._sums, self.context) if gather else self._sums
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
            "data_order": self._order.cpu(),
            "metric_sums": sums.cpu(),
            "metric_steps": self._sum_steps,
            "elapsed_s": self._elapsed(),
            "world_size": self.context.world_size,
            "best_classifier_fid": self.best_fid,
            "config": {**self.config, "class_names": self.class_names},
        }

    def save_checkpoint(self, path: Path) -> None:
        save_checkpoint(path, self.checkpoint_payload())

    def checkpoint(self) -> None:
        """``checkpoints/step_NNNNNNN.pt`` (the newest ``keep_checkpoints`` kept) and
        ``checkpoints/last.pt``, the one that ``--resume`` and ``sample`` read."""
        self._check_finite()
        payload = self.checkpoint_payload()
        if self.writes:
            keep_checkpoint(self.run_dir / "checkpoints", f"step_{self.step:07d}.pt", payload, self.s.keep_checkpoints)

    def load_state(self, payload: dict[str, Any], source: Path) -> None:
        """Continue exactly where ``payload`` (a checkpoint of this run) stopped."""
        trained_with = int(payload.get("world_size", 1))
        if trained_with != self.context.world_size:
            raise UsageError(
                f"{source} was trained by {trained_with} process(es), this is {self.context.world_size}; resume with "
                + (f"torchrun --nproc-per-node {trained_with} -m ganzoo train ..." if trained_with > 1 else "one process")
            )
        try:
            self.generator.load_state_dict(payload["generator"])
            self.discriminator.load_state_dict(payload["discriminator"])
            self.opt_g.load_state_dict(payload["optimizer_g"])
            self.opt_d.load_state_dict(payload["optimizer_d"])
            rng = payload["rng"]
            self.rng.set_state(rng["trainer"])
            mine = rng["per_rank"][self.context.rank] if "per_rank" in rng else rng
            torch.set_rng_state(mine["torch"])
            if self.device.type == "cuda" and "cuda" in mine:
                torch.cuda.set_rng_state(mine["cuda"], self.device)
            self.step = int(payload["step"])
            self.epoch = int(payload["epoch"])
            self._order = payload["data_order"].to(self.device)
            sums = payload["metric_sums"]
            self._sums.zero_()
            self._sums[: len(sums)].copy_(sums)  # checkpoints of ganzoo 0.1 kept three sums
            self.elapsed_s = float(payload.get("elapsed_s", 0.0))
            self._sum_steps = int(payload["metric_steps"])
            self.best_fid = float(payload.get("best_classifier_fid", math.inf))
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{source} does not fit this run's model and settings ({first_line(exc)})") from None
        if self._order.numel() not in (0, len(self.images)):
            raise CheckpointError(f"{source} was trained on {self._order.numel()} images, this data set has {len(self.images)}")


SUMS = ("d_loss", "g_loss", "d_class_accuracy", "d_penalty")  # metrics summed on the device
D_LOSS, G_LOSS, D_ACCURACY, D_PENALTY = range(len(SUMS))
STOP_CHECK_EVERY = 10  # under torchrun, steps between the ranks' agreement on a signal


def _rows(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Stack per-update tensors into rows (a view, no copy, when there is one)."""
    return tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)


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
