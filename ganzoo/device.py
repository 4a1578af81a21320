"""Choosing the device a command runs on (``--device``, env ``GANZOO_DEVICE``), and how
much memory the machine has left."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .errors import UsageError


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


def available_memory() -> int | None:
    """Bytes a new allocation can take without swapping: Linux's ``MemAvailable``, or less
    when a control group (a container) limits this process. None where the system does not say."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:  # cgroup v2: the limit less what the group already uses
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return max(0, min(found)) if found else None


def check_memory_for(images: int, shape: tuple[int, ...], what: str) -> None:
    """A one-line :class:`UsageError` when ``images`` uint8 images of ``shape`` cannot be
    held in memory, before any is made (without it, the system kills the process)."""
    need = images * math.prod(shape)
    free = available_memory()
    if free is not None and need > free:
        raise UsageError(f"{images:,} images of {'x'.join(map(str, shape))} need {need / 2**30:.1f} GiB of memory and "
                         f"{free / 2**30:.1f} GiB is available; {what}")
