"""ganzoo: a plugin-based GAN zoo for PyTorch.

The public face of the core, the plugin API: the hook markers, the model contracts, the
training-step base classes, the evaluation-metric record, the registry look-ups. The core
knows no model; every model arrives through a plugin.
"""

from __future__ import annotations

from importlib import metadata

from .contracts import Discriminator, DiscriminatorOutput, Generator, Loss
from .errors import GanzooError, UsageError
from .hookspecs import hookimpl, hookspec
from .models import BuiltModel, ModelSpec, get_loss, get_model, get_model_spec, list_models

try:
    __version__ = metadata.version("ganzoo")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def __getattr__(name: str):
    # The training-step and metric classes import the trainer's and the evaluator's
    # modules; they load on first use so that `import ganzoo` stays light.
    if name in ("TrainStep", "AdversarialStep", "StepContext", "Batch"):
        from .train import step

        return getattr(step, name)
    if name == "Metric":
        from .evaluate.metric_api import Metric

        return Metric
    raise AttributeError(f"module 'ganzoo' has no attribute {name!r}")


__all__ = [
    "AdversarialStep",
    "Batch",
    "BuiltModel",
    "Discriminator",
    "DiscriminatorOutput",
    "GanzooError",
    "Generator",
    "Loss",
    "Metric",
    "ModelSpec",
    "StepContext",
    "TrainStep",
    "UsageError",
    "__version__",
    "get_loss",
    "get_model",
    "get_model_spec",
    "hookimpl",
    "hookspec",
    "list_models",
]
