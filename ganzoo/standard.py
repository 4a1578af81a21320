"""ganzoo's own plugin (entry point ``standard``): the standard losses, the built-in
datasets, the evaluator's metrics and the TensorBoard and W&B loggers, registered through
the same hooks as any third-party plugin's."""

from __future__ import annotations

from .datasets import BUILTIN
from .evaluate.builtin_metrics import BUILTIN_METRICS
from .hookspecs import hookimpl
from .losses import STANDARD_LOSSES
from .train.loggers import TensorBoardLogger
from .train.wandb_logger import WandbLogger


@hookimpl
def register_losses(register):
    for name, factory in STANDARD_LOSSES.items():
        register(name, factory)


@hookimpl
def register_datasets(register):
    for name, (load, description) in BUILTIN.items():
        register(name, load, description)


@hookimpl
def register_metrics(register):
    for metric in BUILTIN_METRICS:
        register(metric)


@hookimpl
def register_loggers(register):
    register("tensorboard", TensorBoardLogger, "TensorBoard scalars and sample grids in RUN/tensorboard/ "
             "(pip install 'ganzoo[tensorboard]')")
    register("wandb", WandbLogger, "Weights & Biases: scalars, evaluations and sample grids in one W&B run "
             "(pip install 'ganzoo[wandb]')")
