"""The training loop: runs any registered model's step, knows no model.

Each step the loop draws the step's random inputs from the run's own generator (the
epoch's data order, noise, fake labels: a :class:`~ganzoo.train.step.Batch`), sets the
learning rates of the schedule, and calls the model's step (``step.py``; the default is
the adversarial step), then the EMA update; the named values the step returns are summed
on the device and read only every ``log_every`` steps, so the step never waits for the
host. On CUDA the step, the EMA update and the sums are captured once in a CUDA graph and
replayed (``cuda_graph``); bf16 autocast and channels-last are chosen by ``precision`` and
``channels_last``, the upsampling convolutions' form by ``fused_upsample``, that of the
narrow (to-image) convolutions by ``narrow_conv``, glibc's keeping of freed memory by
``keep_freed_memory`` (``speed.py``); CPU trainings share the cores by ``share_cores``
(``cores.py``).

What happens between steps (metrics lines, evaluation and best.pt, sample grids,
checkpoints, the loss curve) is done by the callbacks in ``callbacks.py``; what a
checkpoint holds, and resuming from one, by ``state.py``.

Under torchrun (``distributed.py``) G and D are wrapped in DistributedDataParallel. Every
rank draws the same global permutation, noise and labels from the run's generator and
takes its own slice of each, so N ranks with ``batch_size`` B train on exactly the global
batch of N x B that one process would draw; rank 0 alone writes the run folder.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from tqdm import tqdm

from ..blocks import set_fused_upsample, set_split_narrow
from ..data import ImageData
from ..errors import GanzooError, UsageError, first_line
from ..models import BuiltModel
from ..settings import TRAIN_SETTINGS
from . import distributed
from .callbacks import default_callbacks
from .cores import CoreShare, shared_cores
from .distributed import SINGLE, Context
from .ema import EMA
from .graphs import GraphedStep, prepare_optimizer_state, training_state
from .speed import keep_freed_memory, make_adam, plan_speed, slow_bf16_note
from .step import AdversarialStep, Batch, StepContext

GRID_COLUMNS = 10
STOP_CHECK_EVERY = 10  # under torchrun, steps between the ranks' agreement on a signal


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


class MetricSums:
    """Named step values summed on the device in one fixed-size buffer; a name gets its
    slot the first time a step returns it (before any CUDA-graph capture)."""

    CAPACITY = 32

    def __init__(self, device: torch.device):
        self.values = torch.zeros(self.CAPACITY, device=device)
        self.names: list[str] = []
        self.steps = 0

    def add(self, metrics: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, value in metrics.items():
                if name not in self.names:
                    if len(self.names) == self.CAPACITY:
                        raise GanzooError(f"a training step logs more than {self.CAPACITY} values")
                    self.names.append(name)
                slot = self.names.index(name)
                self.values[slot] += value.detach().float()

    def used(self) -> torch.Tensor:
        return self.values[: len(self.names)]

    def finite(self) -> bool:
        return bool(torch.isfinite(self.used()).all())

    def means(self, context: Context) -> dict[str, float]:
        """The interval's mean of each value over its steps (and ranks): one host read."""
        averaged = distributed.mean_over_ranks(self.used() / max(self.steps, 1), context)
        return dict(zip(self.names, averaged.tolist()))

    def reset(self) -> None:
        self.values.zero_()
        self.steps = 0


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
        self.settings = {key: setting.default for key, setting in TRAIN_SETTINGS.items()}
        self.settings.update(settings)
        s = self.settings
        self.device = torch.device(device)
        self.run_dir = run_dir
        self.config = config or {}
        self.context = context
        self.progress = progress and context.is_main
        self.class_names = list(data.class_names)
        self.num_classes = data.num_classes
        self.plan = plan_speed(s, self.device)
        if context.enabled and self.plan.cuda_graph:  # DDP's all-reduce runs outside the graph
            self.plan = replace(self.plan, cuda_graph=False)
        if self.plan.keep_freed_memory:
            keep_freed_memory()
        note = slow_bf16_note(self.plan)
        if note and context.is_main:
            print(note, file=sys.stderr)

        self.batch_size, self.n_critic = s["batch_size"], s["n_critic"]
        self.global_batch = self.batch_size * context.world_size
        if len(data) < self.global_batch:
            raise UsageError(f"the dataset has {len(data)} images, fewer than one global batch of {self.global_batch} "
                             f"(batch_size={self.batch_size} x {context.world_size} processes)")
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.batches_per_epoch = len(data) // self.global_batch  # one D update per batch
        self.total_steps = self.budget(s["epochs"], s["max_steps"])

        self.generator, self.discriminator = self._placed(model.generator), self._placed(model.discriminator)
        if context.enabled and s["sync_batchnorm"]:
            if self.device.type != "cuda":
                raise UsageError("sync_batchnorm needs CUDA: PyTorch's SyncBatchNorm runs on GPUs only")
            self.generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.generator)
            self.discriminator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.discriminator)
        self.step_context = StepContext(
            generator=self.generator, discriminator=self.discriminator, loss=model.loss, settings=s,
            real_batch=self._real_batch, autocast=self.plan.autocast,
            wrap=lambda module: distributed.wrap(module, self.device, context), device=self.device,
        )
        self.opt_g = self._optimizer(self.generator, s["lr_g"] or s["lr"], s["betas_g"] or s["betas"])
        self.opt_d = self._optimizer(self.discriminator, s["lr_d"] or s["lr"], s["betas_d"] or s["betas"])
        self.step_context.opt_g, self.step_context.opt_d = self.opt_g, self.opt_d
        self.train_step = self._placed((model.spec.step or AdversarialStep)(self.step_context))
        self.ema = EMA(self.generator, s["ema"]) if s["ema"] > 0 else None
        for group in (g for optimizer in self.optimizers().values() for g in optimizer.param_groups):
            group["base_lr"] = float(group["lr"])

        # Noise, fake labels and data order come from one generator of their own, the same
        # on every rank; dropout and other layer randomness use torch's global generator
        # (seeded by the caller, differently on each rank).
        self.rng = torch.Generator(device=self.device).manual_seed(s["seed"])
        self.step = 0
        self.epoch = 0
        self.order = torch.empty(0, dtype=torch.long, device=self.device)
        self.fixed_z, self.fixed_labels = self._fixed_noise()
        self.sums = MetricSums(self.device)
        self.elapsed_s = 0.0  # training wall time of the run, carried across resumes
        self._clock: tuple[float, float] | None = None  # (perf_counter at fit start, elapsed_s then)
        self._graphed: GraphedStep | None = None
        self._stop_signal: int | None = None
        self.logger = None  # an extra logger (TensorBoard) on the writing rank, set by the caller
        self.history: list[dict[str, Any]] = []  # the loss lines of metrics.jsonl
        self.core_share: CoreShare | None = None  # fit()'s share of the cores (share_cores)
        self.callbacks = default_callbacks(self)

    def _placed(self, module: torch.nn.Module) -> torch.nn.Module:
        module = module.to(self.device, memory_format=self.plan.memory_format)
        set_fused_upsample(module, self.plan.fused_upsample, winograd=self.plan.winograd_upsample)
        set_split_narrow(module, self.plan.narrow_conv)
        return module

    def _optimizer(self, module: torch.nn.Module, lr: float, betas: Any) -> torch.optim.Optimizer:
        factory = self.model.spec.optimizer
        if factory is None:
            return make_adam(module.parameters(), lr=lr, betas=betas, plan=self.plan)
        return factory(module.parameters(), lr=lr, betas=tuple(betas))

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser of the run: G's, D's and the step's own, by checkpoint name."""
        return {"optimizer_g": self.opt_g, "optimizer_d": self.opt_d,
                **{f"step.{name}": opt for name, opt in self.train_step.optimizers().items()}}

    def budget(self, epochs: int, max_steps: int | None) -> int:
        """Generator steps: each takes ``n_critic`` batches, an epoch is every batch once."""
        total = epochs * self.batches_per_epoch // self.n_critic
        if max_steps is not None:
            total = min(total, max_steps)
        if total <= 0:
            raise UsageError("nothing to train: epochs and max_steps give 0 steps")
        return total

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder (rank 0 of a run that has one)."""
        return self.run_dir is not None and self.context.is_main

    @property
    def sampling_generator(self) -> torch.nn.Module:
        """The generator that samples and is evaluated: the EMA copy when there is one."""
        return self.ema.model if self.ema is not None else self.generator

    # -- the step's inputs --------------------------------------------------------------
    def _fixed_noise(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One row per class, the same noise every time (seeded from the run's seed)."""
        rows = max(self.num_classes, 1)
        cpu = torch.Generator().manual_seed(self.settings["seed"] + 1)
        z = self.generator.sample_latent(rows * GRID_COLUMNS, generator=cpu)
        labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS)
        return z.to(self.device), labels.to(self.device)

    def draw_batch(self) -> Batch:
        """The step's random inputs, one row per D update (``n_critic`` rows), always drawn
        in the same order from ``self.rng``: the epoch's data order (at an epoch start),
        then noise, then fake labels, each for the global batch; this rank keeps its slice."""
        n, total = self.batch_size, self.global_batch
        mine = slice(self.context.rank * n, (self.context.rank + 1) * n)
        index, z, fake_labels = [], [], []
        for update in range(self.step * self.n_critic, (self.step + 1) * self.n_critic):
            position = update % self.batches_per_epoch
            if position == 0 or self.order.numel() == 0:
                self.order = torch.randperm(len(self.images), generator=self.rng, device=self.device)
            index.append(self.order[position * total : (position + 1) * total][mine])
            z.append(self.generator.sample_latent(total, device=self.device, generator=self.rng)[mine])
            labels = torch.randint(0, max(self.num_classes, 1), (total,), device=self.device, generator=self.rng)
            fake_labels.append(labels[mine])
        return Batch(_rows(index), _rows(z), _rows(fake_labels))

    def _real_batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        real = self.images.index_select(0, index).float().div_(127.5).sub_(1.0)
        return real.contiguous(memory_format=self.plan.memory_format), self.labels.index_select(0, index)

    # -- one step ----------------------------------------------------------------------
    def _run_step(self, index: torch.Tensor, z: torch.Tensor, fake_labels: torch.Tensor) -> None:
        """The model's step, the EMA update and the metric sums: what a CUDA graph holds."""
        self.sums.add(self.train_step(Batch(index, z, fake_labels)))
        if self.ema is not None:
            self.ema.update(self.generator)

    def run_step(self) -> None:
        """Draw the inputs, set the learning rates and run one step (replaying the CUDA
        graph when there is one)."""
        batch = self.draw_batch()
        self._schedule_learning_rates()
        if self._graphed is not None:
            self._graphed(batch.index, batch.z, batch.fake_labels)
        else:
            self._run_step(batch.index, batch.z, batch.fake_labels)
        self.sums.steps += 1

    def _schedule_learning_rates(self) -> None:
        if self.settings["lr_schedule"] != "linear":
            return
        factor = 1.0 - self.step / self.total_steps  # step t of T runs at (1 - t/T) x the base rate
        for optimizer in self.optimizers().values():
            for group in optimizer.param_groups:
                value = group["base_lr"] * factor
                if isinstance(group["lr"], torch.Tensor):
                    group["lr"].fill_(value)
                else:
                    group["lr"] = value

    def _capture(self) -> None:
        """Capture the step in a CUDA graph; on any failure, say so and stay eager."""
        if not self.plan.cuda_graph or self._graphed is not None:
            return
        n, updates = self.batch_size, self.n_critic
        throwaway = torch.Generator(device=self.device).manual_seed(0)  # leaves every run RNG alone
        z = self.generator.sample_latent(n * updates, device=self.device, generator=throwaway)
        inputs = (
            torch.zeros(updates, n, dtype=torch.long, device=self.device),
            z.view(updates, n, *z.shape[1:]),
            torch.zeros(updates, n, dtype=torch.long, device=self.device),
        )
        for optimizer in self.optimizers().values():
            prepare_optimizer_state(optimizer)
        state = training_state([self.generator, self.discriminator, self.train_step],
                               list(self.optimizers().values())) + [self.sums.values]
        if self.ema is not None:
            state += self.ema.tensors()
        self.step_context.graphed = True
        try:
            self._graphed = GraphedStep(self._run_step, inputs, state)
        except Exception as exc:  # capture is an optimisation: fall back, never fail the run
            torch.cuda.synchronize(self.device)
            self._graphed = None
            self.step_context.graphed = False
            self.plan = replace(self.plan, cuda_graph=False)
            print(f"ganzoo: CUDA graph capture failed, training eagerly ({first_line(exc)})", file=sys.stderr)

    # -- the loop ----------------------------------------------------------------------
    def fit(self) -> TrainResult:
        self.generator.train()
        self.discriminator.train()
        self.train_step.train()
        self._capture()
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=not self.progress,
            unit="step",
            dynamic_ncols=True,
            mininterval=0.1 if sys.stderr.isatty() else 30.0,  # a log file gets a line now and then
        )
        self.bar = bar
        self.last_metrics: dict[str, Any] = {}
        self._clock = (time.perf_counter(), self.elapsed_s)
        for callback in self.callbacks:
            callback.start(self)
        try:
            with self._signals_caught(), shared_cores(self.device, self.plan.share_cores) as share:
                self.core_share = share
                while self.step < self.total_steps:
                    self.run_step()
                    if share is not None:
                        share.poll()
                    self.step += 1
                    self.epoch = self.step * self.n_critic // self.batches_per_epoch
                    bar.update(1)
                    last = self.step == self.total_steps
                    for callback in self.callbacks:
                        callback.after_step(self, last)
                    if self._should_stop(last):
                        self._stop()
        finally:
            bar.close()
            if self.logger is not None:
                self.logger.close()
        for callback in self.callbacks:
            callback.end(self)
        return TrainResult(self.step, self.epoch, self.last_metrics, self.run_dir)

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
        for callback in self.callbacks:
            callback.end(self)
        raise TrainingInterrupted(
            signum,
            f"interrupted by {name} at step {self.step}/{self.total_steps}; checkpoint saved; "
            f"resume with: ganzoo train {self.model.spec.name} --resume {self.run_dir}",
        )

    def elapsed(self) -> float:
        if self._clock is None:  # not fitting yet
            return self.elapsed_s
        started, before = self._clock
        return before + time.perf_counter() - started

    def check_finite(self) -> None:
        """Refuse to go on (or to checkpoint) once a logged value has become NaN or infinite."""
        if not self.sums.finite():
            where = f"; the last good checkpoint is in {self.run_dir / 'checkpoints'}" if self.run_dir else ""
            raise GanzooError(f"training diverged: a loss became non-finite by step {self.step}{where}")

    def checkpoint(self) -> None:
        """``checkpoints/step_NNNNNNN.pt`` (the newest ``keep_checkpoints`` kept) and
        ``checkpoints/last.pt``, the one that ``--resume`` and ``sample`` read."""
        from .state import save_step_checkpoint

        save_step_checkpoint(self)

    # -- outputs -----------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """Images from the fixed noise, one row per class, as floats in [0, 1]."""
        generator = self.sampling_generator
        was_training = generator.training
        generator.eval()
        try:
            labels = self.fixed_labels if generator.conditional else None
            with self.plan.autocast():
                images = generator(self.fixed_z, labels)
        finally:
            generator.train(was_training)
        return images.float().add(1).div(2).clamp(0, 1).cpu()


def _rows(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Stack per-update tensors into rows (a view, no copy, when there is one)."""
    return tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)
