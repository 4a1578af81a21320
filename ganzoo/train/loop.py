"""The training loop: runs any registered model's step, knows no model.

Each step the loop draws the step's random inputs from the run's own generator (the
epoch's data order, noise, fake labels: a :class:`~ganzoo.train.step.Batch`), sets the
learning rates of the schedule, and calls the model's step (``step.py``; the default is
the adversarial step), then the EMA update; the named values the step returns are summed
on the device (``sums.py``) and read only every ``log_every`` steps, so the step never
waits for the host. On CUDA the step, the EMA update and the sums are captured once in a
CUDA graph and replayed (``graphs.py``); the speed switches are the run's
:class:`~ganzoo.speed.SpeedPlan`; CPU trainings share the cores (``ganzoo/cores.py``).

A :class:`Trainer` is made in one go from everything a run needs (the built model, its
settings and data, the run folder, the loggers, the callbacks); what happens between
steps is the callbacks' (``callbacks.py``), what a checkpoint holds and resuming from one
``state.py``'s.

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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from ..blocks import set_fused_upsample, set_split_narrow
from ..cores import CoreShare, shared_cores
from ..data import ImageData
from ..deferred import optimizer_imports
from ..errors import GanzooError, UsageError, first_line
from ..machine import keep_freed_memory
from ..models import BuiltModel
from ..runs.folder import append_metrics
from ..settings import RunSettings
from ..speed import SpeedPlan, plan_for_run, slow_bf16_note
from . import distributed
from .callbacks import Callback, default_callbacks
from .distributed import SINGLE, Context
from .ema import EMA
from .graphs import GraphedStep, prepare_optimizer_state, training_state
from .optim import make_adam
from .state import save_step_checkpoint
from .step import AdversarialStep, Batch, StepContext
from .sums import MetricSums

STOP_CHECK_EVERY = 10  # under torchrun, steps between the ranks' agreement on a signal


@dataclass
class TrainResult:
    steps: int
    epochs: int
    last_metrics: dict[str, Any]
    run_dir: Path | None
    history: list[dict[str, Any]]  # the metrics lines this fit logged


class TrainingInterrupted(GanzooError):
    """SIGINT or SIGTERM arrived: the step finished, a checkpoint was saved."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.exit_code = 128 + signum


@dataclass(frozen=True)
class Budget:
    """How a run's steps divide its data: a step takes ``n_critic`` batches (one per D
    update) of ``batch_size`` per process, an epoch is every batch once."""

    batch_size: int
    n_critic: int
    global_batch: int
    batches_per_epoch: int
    total_steps: int


def budget(settings: Mapping[str, Any], images: int, world_size: int = 1) -> Budget:
    """The run's budget in generator steps (``epochs``, capped by ``max_steps``)."""
    batch_size, n_critic = settings["batch_size"], settings["n_critic"]
    global_batch = batch_size * world_size
    if images < global_batch:
        raise UsageError(f"the dataset has {images} images, fewer than one global batch of {global_batch} "
                         f"(batch_size={batch_size} x {world_size} processes)")
    batches_per_epoch = images // global_batch
    total = settings["epochs"] * batches_per_epoch // n_critic
    if settings["max_steps"] is not None:
        total = min(total, settings["max_steps"])
    if total <= 0:
        raise UsageError("nothing to train: epochs and max_steps give 0 steps")
    return Budget(batch_size, n_critic, global_batch, batches_per_epoch, total)


class Trainer:
    """Trains ``model`` on ``data`` with the run's settings, writing into ``run_dir``
    (None: nothing is written). ``plan`` defaults to the settings' speed plan on
    ``device``, ``callbacks`` to :func:`~ganzoo.train.callbacks.default_callbacks`;
    ``logger`` is the run's extra logger (on the writing process), ``evaluator`` the
    classifier metrics of ``eval_every``, ``config`` what checkpoints record of the run."""

    def __init__(
        self,
        model: BuiltModel,
        settings: Mapping[str, Any],
        data: ImageData,
        *,
        device: torch.device | str = "cpu",
        plan: SpeedPlan | None = None,
        run_dir: Path | None = None,
        config: dict[str, Any] | None = None,
        logger: Any = None,
        callbacks: Iterable[Callback] | None = None,
        evaluator: Callable[[torch.nn.Module], dict[str, Any]] | None = None,
        context: Context = SINGLE,
        progress: bool = True,
    ):
        self.model, self.context, self.run_dir = model, context, run_dir
        self.settings = RunSettings(settings)
        self.device = torch.device(device)
        self.config, self.logger, self.evaluator = dict(config or {}), logger, evaluator
        self.progress = progress and context.is_main
        self.class_names, self.num_classes = list(data.class_names), data.num_classes
        self.plan = plan if plan is not None else plan_for_run(self.settings, self.device,
                                                                distributed=context.enabled)
        self._prepare_process()
        self.budget = budget(self.settings, len(data), context.world_size)
        self.images, self.labels = data.images.to(self.device), data.labels.to(self.device)
        self.generator, self.discriminator = self._networks()
        optimizer_imports()  # before the first optimiser, G's, D's or the step's own
        self.step_context, self.opt_g, self.opt_d, self.train_step = self._step_and_optimizers()
        self.ema = EMA(self.generator, self.settings["ema"]) if self.settings["ema"] > 0 else None
        for group in (g for optimizer in self.optimizers().values() for g in optimizer.param_groups):
            group["base_lr"] = float(group["lr"])
        # Noise, fake labels and data order come from one generator of their own, the same
        # on every rank; dropout and other layer randomness use torch's global generator
        # (seeded by the caller, differently on each rank).
        self.rng = torch.Generator(device=self.device).manual_seed(self.settings["seed"])
        self.step, self.epoch, self.elapsed_s = 0, 0, 0.0  # elapsed_s: training time, carried across resumes
        self.order = torch.empty(0, dtype=torch.long, device=self.device)
        self.sums = MetricSums(self.device)
        self.callbacks = list(callbacks) if callbacks is not None else default_callbacks()
        self.history: list[dict[str, Any]] = []  # the metrics lines this fit logged
        self.last_metrics: dict[str, Any] = {}
        self.resumed = False  # load_state_dict was called: the loggers hear of it before logging
        self.core_share: CoreShare | None = None  # fit()'s share of the cores (share_cores)
        self._clock: tuple[float, float] | None = None  # (perf_counter at fit start, elapsed_s then)
        self._graphed: GraphedStep | None = None
        self._stop_signal: int | None = None
        self._bar: Any = None

    def _prepare_process(self) -> None:
        if self.plan.keep_freed_memory:
            keep_freed_memory()
        note = slow_bf16_note(self.plan)
        if note and self.context.is_main:
            print(note, file=sys.stderr)

    def _networks(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        generator, discriminator = self._placed(self.model.generator), self._placed(self.model.discriminator)
        if self.context.enabled and self.settings["sync_batchnorm"]:
            if self.device.type != "cuda":
                raise UsageError("sync_batchnorm needs CUDA: PyTorch's SyncBatchNorm runs on GPUs only")
            generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(generator)
            discriminator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
        return generator, discriminator

    def _step_and_optimizers(self) -> tuple[StepContext, torch.optim.Optimizer, torch.optim.Optimizer, torch.nn.Module]:
        s = self.settings
        opt_g = self._optimizer(self.generator, s["lr_g"] or s["lr"], s["betas_g"] or s["betas"])
        opt_d = self._optimizer(self.discriminator, s["lr_d"] or s["lr"], s["betas_d"] or s["betas"])
        context = StepContext(
            generator=self.generator, discriminator=self.discriminator, loss=self.model.loss, settings=s,
            real_batch=self._real_batch, autocast=self.plan.autocast,
            wrap=lambda module: distributed.wrap(module, self.device, self.context), device=self.device,
            opt_g=opt_g, opt_d=opt_d,
        )
        return context, opt_g, opt_d, self._placed((self.model.spec.step or AdversarialStep)(context))

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

    @property
    def total_steps(self) -> int:
        return self.budget.total_steps

    @property
    def global_batch(self) -> int:
        return self.budget.global_batch

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder (rank 0 of a run that has one)."""
        return self.run_dir is not None and self.context.is_main

    @property
    def sampling_generator(self) -> torch.nn.Module:
        """The generator that samples and is evaluated: the EMA copy when there is one."""
        return self.ema.model if self.ema is not None else self.generator

    # -- the step's inputs --------------------------------------------------------------
    def draw_batch(self) -> Batch:
        """The step's random inputs, one row per D update (``n_critic`` rows), always drawn
        in the same order from ``self.rng``: the epoch's data order (at an epoch start),
        then noise, then fake labels, each for the global batch; this rank keeps its slice."""
        n, total, per_epoch = self.budget.batch_size, self.budget.global_batch, self.budget.batches_per_epoch
        mine = slice(self.context.rank * n, (self.context.rank + 1) * n)
        index, z, fake_labels = [], [], []
        for update in range(self.step * self.budget.n_critic, (self.step + 1) * self.budget.n_critic):
            position = update % per_epoch
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
        n, updates = self.budget.batch_size, self.budget.n_critic
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
        """Train from the current step to the budget's end (or a signal); the callbacks run
        between steps. The loggers are closed at the end, however it ends."""
        self._begin()
        try:
            with self._signals_caught(), shared_cores(self.device, self.plan.share_cores) as share:
                self.core_share = share
                while self.step < self.total_steps:
                    self.run_step()
                    if share is not None:
                        share.poll()
                    self.step += 1
                    self.epoch = self.step * self.budget.n_critic // self.budget.batches_per_epoch
                    self._bar.update(1)
                    self._after_step(self.step == self.total_steps)
        finally:
            self._bar.close()
            if self.logger is not None:
                self.logger.close()
        for callback in self.callbacks:
            callback.end(self)
        return TrainResult(self.step, self.epoch, self.last_metrics, self.run_dir, self.history)

    def _begin(self) -> None:
        for module in (self.generator, self.discriminator, self.train_step):
            module.train()
        self._capture()
        self._bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.progress, unit="step",
                         dynamic_ncols=True,
                         mininterval=0.1 if sys.stderr.isatty() else 30.0)  # a log file gets a line now and then
        self._clock = (time.perf_counter(), self.elapsed_s)
        on_resume = getattr(self.logger, "resumed", None)
        if self.resumed and callable(on_resume):  # before anything is logged (loggers.py)
            on_resume(self.step)
        for callback in self.callbacks:
            callback.start(self)

    def _after_step(self, last: bool) -> None:
        for callback in self.callbacks:
            callback.after_step(self, last)
        if self._should_stop(last):
            self._stop()

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
        save_step_checkpoint(self)  # refuses (diverged) rather than save non-finite weights
        for callback in self.callbacks:
            callback.end(self)
        raise TrainingInterrupted(
            signum,
            f"interrupted by {name} at step {self.step}/{self.total_steps}; checkpoint saved; "
            f"resume with: ganzoo train {self.model.spec.name} --resume {self.run_dir}",
        )

    # -- what callbacks use ---------------------------------------------------------------
    def elapsed(self) -> float:
        """The run's training wall time so far, earlier stretches of a resumed run included."""
        if self._clock is None:  # not fitting yet
            return self.elapsed_s
        started, before = self._clock
        return before + time.perf_counter() - started

    def cpu_threads(self) -> int:
        """The fewest threads the step had since the last call (other ganzoo jobs' share)."""
        return self.core_share.fewest_threads() if self.core_share is not None else torch.get_num_threads()

    def check_finite(self) -> None:
        """Refuse to go on (or to checkpoint) once a logged value has become NaN or infinite."""
        if not self.sums.finite():
            where = f"; the last good checkpoint is in {self.run_dir / 'checkpoints'}" if self.run_dir else ""
            raise GanzooError(f"training diverged: a loss became non-finite by step {self.step}{where}")

    def record(self, line: dict[str, Any]) -> None:
        """A metrics line of the run: kept (``history``, ``last_metrics``), appended to
        ``metrics.jsonl`` by the writing process, sent to the logger, shown on the bar."""
        self.history.append(line)
        self.last_metrics = line
        if self.writes:
            append_metrics(self.run_dir, line)
        if self.logger is not None:
            self.logger.scalars(line)
        if self._bar is not None and "d_loss" in line and "g_loss" in line:
            self._bar.set_postfix(d=f"{line['d_loss']:.3f}", g=f"{line['g_loss']:.3f}")

    def record_evaluation(self, results: dict[str, Any]) -> None:
        """An evaluation's results at this step: a ``metrics.jsonl`` line and the logger's."""
        append_metrics(self.run_dir, {"step": self.step, "epoch": self.epoch, "eval": results})
        if self.logger is not None:
            self.logger.evaluation(self.step, results)

    # -- state ------------------------------------------------------------------------
    def state_dict(self, gather: bool = True) -> dict[str, Any]:
        """The trainer's counters and the run's random state. Under torchrun every rank
        calls this with ``gather``, which collects each rank's layer-randomness state."""
        rng: dict[str, Any] = {"trainer": self.rng.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        if self.context.enabled and gather:
            rng["per_rank"] = distributed.gather_objects({k: v.cpu() for k, v in rng.items() if k != "trainer"},
                                                         self.context)
        return {"step": self.step, "epoch": self.epoch, "rng": rng, "data_order": self.order.cpu(),
                "elapsed_s": self.elapsed()}

    def load_state_dict(self, state: dict[str, Any], *, other_data: bool = False) -> None:
        """Take back :meth:`state_dict`'s state (a checkpoint's); on ``other_data``, the data
        order starts anew over the new images."""
        for optimizer in self.optimizers().values():  # base rates of the schedule, as this run sets them
            for group in optimizer.param_groups:
                group.setdefault("base_lr", float(group["lr"]))
        rng = state["rng"]
        self.rng.set_state(rng["trainer"])
        mine = rng["per_rank"][self.context.rank] if "per_rank" in rng else rng
        torch.set_rng_state(mine["torch"])
        if self.device.type == "cuda" and "cuda" in mine:
            torch.cuda.set_rng_state(mine["cuda"], self.device)
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.order = state["data_order"].to(self.device)
        if other_data:
            self.order = self.order[:0]  # the loop draws a new permutation of the new images
        self.elapsed_s = float(state.get("elapsed_s", 0.0))
        self.resumed = True


def _rows(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Stack per-update tensors into rows (a view, no copy, when there is one)."""
    return tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)
