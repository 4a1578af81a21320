"""ganzoo's own plugin (entry point ``standard``): the standard losses, the built-in
datasets, the evaluator's metrics and the TensorBoard logger, registered through the same
hooks as any third-party plugin's."""

from __future__ import annotations

from .hookspecs import hookimpl


@hookimpl
def register_losses(register):
    from .losses import STANDARD_LOSSES

    for name, factory in STANDARD_LOSSES.items():
        register(name, factory)


@hookimpl
def register_datasets(register):
    from .datasets import BUILTIN

    for name, (load, description) in BUILTIN.items():
        register(name, load, description)


@hookimpl
def register_metrics(register):
    from .evaluate.builtin_metrics import BUILTIN_METRICS

    for metric in BUILTIN_METRICS:
        register(metric)


@hookimpl
def register_loggers(register):
    from .train.loggers import TensorBoardLogger

    from .train.wandb_logger import WandbLogger

    register("tensorboard", TensorBoardLogger, "TensorBoard scalars and sample grids in RUN/tensorboard/ "
             "(pip install 'ganzoo[tensorboard]')")
    register("wandb", WandbLogger, "Weights & Biases: scalars, evaluations and sample grids in one W&B run "
             "(pip install 'ganzoo[wandb]')")
