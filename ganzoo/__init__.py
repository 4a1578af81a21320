"""ganzoo: a plugin-based GAN zoo for PyTorch.

The public face of the core, the plugin API: the hook markers, the model contracts, the
training-step base classes, the evaluation-metric record, the registry look-ups. The core
knows no model; every model arrives through a plugin.
"""

from __future__ import annotations

from importlib import import_module, metadata

from .errors import GanzooError, UsageError
from .hookspecs import hookimpl, hookspec
from .models import BuiltModel, ModelSpec
from .zoo import get_loss, get_model, get_model_spec, list_models

try:
    __version__ = metadata.version("ganzoo")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


# Names that import torch (the contracts), the trainer or the evaluator load on first use,
# so that `import ganzoo` stays light: the command line can set up its signal handling
# before the seconds torch takes to import.
_LAZY = {
    "Discriminator": ".contracts", "DiscriminatorOutput": ".contracts", "Generator": ".contracts", "Loss": ".contracts",
    "TrainStep": ".train.step", "AdversarialStep": ".train.step", "StepContext": ".train.step", "Batch": ".train.step",
    "DUpdate": ".train.step", "GUpdate": ".train.step", "Logger": ".train.loggers",
    "Metric": ".evaluate.metric_api", "Callback": ".train.callbacks", "RunSettings": ".settings",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'ganzoo' has no attribute {name!r}")


__all__ = [
    "AdversarialStep",
    "Batch",
    "BuiltModel",
    "Callback",
    "DUpdate",
    "Discriminator",
    "DiscriminatorOutput",
    "GUpdate",
    "GanzooError",
    "Generator",
    "Logger",
    "Loss",
    "Metric",
    "ModelSpec",
    "RunSettings",
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
