"""Building a registered model from a run's settings, and choosing the device."""

from __future__ import annotations

from typing import Any

import torch

from . import BuiltModel, get_model, get_model_spec
from .errors import UsageError


def build_model(model: str, settings: dict[str, Any], num_classes: int) -> BuiltModel:
    """Build ``model`` with its own settings plus the data-derived shape and class count."""
    spec = get_model_spec(model)
    kwargs = {key: settings[key] for key in spec.defaults if key in settings}
    kwargs.update(channels=settings["channels"], image_size=settings["image_size"], num_classes=num_classes)
    try:
        return get_model(model, loss=settings.get("loss"), **kwargs)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot build {model!r} with these settings: {exc}") from None


def resolve_device(name: str | None) -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("CUDA is not available on this machine; use --device cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"there is no {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
