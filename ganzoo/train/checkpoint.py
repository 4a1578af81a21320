"""Checkpoints: written atomically, read back with ``torch.load(weights_only=True)`` only.

A checkpoint is a dict with top-level keys ``format``, ``model``, ``generator``,
``discriminator``, ``optimizer_g``, ``optimizer_d``, ``step``, ``epoch``, ``rng`` and
``config`` (the run's resolved recipe plus its class names).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, GanzooError, first_line

FORMAT = "ganzoo-checkpoint-1"
LAST = "last.pt"
REQUIRED_KEYS = ("format", "model", "generator", "config")


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` so that a crash at any moment leaves the old file whole.

    The bytes go to a temporary file in the same folder, are flushed and fsynced, then
    renamed over the target; on failure (a full disk) the temporary file is removed and
    the previous checkpoint is untouched.
    """
    path = Path(path)
    payload = {"format": FORMAT, **payload}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise GanzooError(
                f"could not save checkpoint {path}: {exc.strerror or exc}; the previous checkpoint is intact"
            ) from None
        raise
    _fsync_folder(path.parent)


def keep_checkpoint(folder: Path, name: str, payload: dict[str, Any], keep: int) -> Path:
    """Save ``folder/name``, point ``folder/last.pt`` at it, delete all but the newest
    ``keep`` ``step_*.pt`` files. ``last.pt`` is a hard link where the file system allows
    one (no second write), else a copy; either way it is replaced atomically."""
    path = folder / name
    save_checkpoint(path, payload)
    last = folder / LAST
    tmp = folder / f".{LAST}.{os.getpid()}.link"
    try:
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(path, tmp)
            os.replace(tmp, last)
        except OSError:
            if tmp.exists():
                tmp.unlink()
            save_checkpoint(last, payload)
        _fsync_folder(folder)
        for old in sorted(folder.glob("step_*.pt"))[:-keep]:
            old.unlink()
    except OSError as exc:
        raise GanzooError(f"could not update checkpoints in {folder}: {exc.strerror or exc}") from None
    return path


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a ganzoo checkpoint safely; every failure becomes one clear CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise CheckpointError(
                f"refusing to load {path}: it holds Python objects other than tensors and plain data, "
                "and unpickling them could run code"
            ) from None
        raise CheckpointError(f"checkpoint {path} is corrupt ({first_line(exc, '')})") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({first_line(exc)})") from None
    if not isinstance(payload, dict) or any(key not in payload for key in REQUIRED_KEYS):
        raise CheckpointError(f"{path} is not a ganzoo checkpoint")
    if payload["format"] != FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {payload['format']!r}; this ganzoo reads {FORMAT!r}")
    return payload
