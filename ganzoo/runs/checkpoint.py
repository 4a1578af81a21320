"""Checkpoints: written atomically, read back with ``torch.load(weights_only=True)`` only.

A checkpoint is a dict of tensors and plain data (see docs/architecture.md for its keys):
the networks, the optimisers, the model's step state, the EMA generator, the RNG states,
the data order, the counters and ``config`` (the run's resolved recipe plus its class
names).
"""

from __future__ import annotations

import os
import pickle
import shutil
import struct
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, GanzooError, first_line
from ..files import link_or_copy, replaced_atomically
from .seal import seal, seal_problem

try:
    import resource
except ImportError:  # Windows
    resource = None

FORMAT = "ganzoo-checkpoint-1"
LAST = "last.pt"
REQUIRED_KEYS = ("format", "model", "generator", "config")


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` so that a crash at any moment leaves the old file
    whole: the bytes go to a temporary file beside it, are sealed with their checksum
    (``seal.py``), flushed and renamed over it; on any failure (a full disk) the previous
    checkpoint is untouched."""
    path = Path(path)
    try:
        with replaced_atomically(path) as tmp:
            torch.save({"format": FORMAT, **payload}, tmp)
            seal(tmp)
    except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as a RuntimeError
        raise GanzooError(f"could not save checkpoint {path}: {_save_failure(exc, path)}; "
                          f"{_what_survives(path)}") from None


def _save_failure(exc: BaseException, path: Path) -> str:
    """Why a save failed, in words: torch.save reports a full disk as "[enforce fail at
    inline_container.cc] unexpected pos ..."; the free space says what happened."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if free is not None and free < 64 * 1024 * 1024:
        return f"the file system is full ({free / 1024:.0f} KB free)"
    limit = _file_size_limit()
    if limit is not None:
        return f"files may be at most {limit / 1024:.0f} KB here (ulimit -f), and the checkpoint is larger"
    return first_line(exc)


def _file_size_limit() -> int | None:
    """The largest file this process may write, in bytes, when a limit is set (``ulimit -f``)."""
    if resource is None:  # Windows
        return None
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def _what_survives(path: Path) -> str:
    folder = path.parent
    earlier = [p for p in folder.glob("*.pt") if p.name != path.name and not p.name.startswith(".")] if folder.is_dir() else []
    if path.is_file() or earlier:
        return "the previous checkpoint is intact"
    return "no checkpoint of this run was written yet"


def keep_checkpoint(folder: Path, name: str, payload: dict[str, Any], keep: int) -> Path:
    """Save ``folder/name``, point ``folder/last.pt`` at it, delete all but the newest
    ``keep`` ``step_*.pt`` files. ``last.pt`` is a hard link where the file system allows
    one (no second write), else a copy; either way it is replaced atomically."""
    path = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, payload)
    try:
        point_last_at(path)
        for old in sorted(folder.glob("step_*.pt"))[:-keep]:
            old.unlink()
    except OSError as exc:
        raise GanzooError(f"could not update checkpoints in {folder}: {exc.strerror or exc}") from None
    return path


def point_last_at(path: Path) -> None:
    """Make ``last.pt`` beside ``path`` the same checkpoint: a hard link where the file
    system allows one, else a copy; replaced atomically either way."""
    last = path.parent / LAST
    if last.exists() and last.samefile(path):
        return
    with replaced_atomically(last) as tmp:
        tmp.unlink()
        link_or_copy(path, tmp)


def newest_intact(folder: Path, besides: Path) -> tuple[Path, int] | None:
    """The newest ``step_*.pt`` in ``folder`` that is not ``besides`` (nor a link to it)
    and loads, with its step; None when there is none."""
    for path in sorted(folder.glob("step_*.pt"), reverse=True):
        try:
            if besides.exists() and path.samefile(besides):
                continue
            return path, int(load_checkpoint(path)["step"])
        except (CheckpointError, OSError, KeyError, TypeError, ValueError):
            continue
    return None


def load_or_point_to_intact(path: Path, how_to_use: str) -> dict[str, Any]:
    """:func:`load_checkpoint`; when ``path`` is a run's ``last.pt`` and cannot be read,
    the error names the run's newest intact step checkpoint and ``how_to_use`` it
    (formatted with ``{path}``)."""
    try:
        return load_checkpoint(path)
    except CheckpointError as exc:
        earlier = newest_intact(path.parent, path) if path.name == LAST else None
        if earlier is None:
            raise
        found, step = earlier
        raise CheckpointError(f"{exc}; the run's newest intact checkpoint is {found} (step {step}): "
                              f"{how_to_use.format(path=found)}") from None


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
PICKLE_PROTO = b"\x80"  # the legacy format: a pickle stream
LEGACY_PROTOCOL = 2  # torch.save's legacy format pickles with protocol 2; anything above is another writer's


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    mmap: bool = False) -> dict[str, Any]:
    """Read a ganzoo checkpoint safely; every failure becomes one clear CheckpointError.
    ``mmap``: map the tensors rather than read them (a look at the step costs little)."""
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise CheckpointError(f"{path} is a folder, not a checkpoint file")
        if path.exists():
            raise CheckpointError(f"{path} is not a regular file (a device or a pipe), not a checkpoint")
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with open(path, "rb") as file:
            head = file.read(4)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    if not (head.startswith(ZIP_MAGIC) or head[:1] == PICKLE_PROTO):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint file (it starts with neither a zip archive's "
                              "header nor a pickle's)" if head else f"checkpoint {path} is empty")
    if head[:1] == PICKLE_PROTO and len(head) > 1 and head[1] > LEGACY_PROTOCOL:
        raise CheckpointError(f"{path} is a plain pickle (protocol {head[1]}), not a file torch.save wrote; ganzoo "
                              "does not unpickle such files (that could run code)")
    problem = None if mmap else _seal_problem(path)  # a peek at the step (mmap) reads no more than it needs
    if problem:
        raise CheckpointError(f"checkpoint {path} is damaged ({problem})")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True,
                             mmap=mmap and head.startswith(ZIP_MAGIC))  # the legacy format cannot be mapped
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise CheckpointError(
                f"refusing to load {path}: it holds Python objects other than tensors and plain data, "
                "and unpickling them could run code"
            ) from None
        raise CheckpointError(f"checkpoint {path} is corrupt ({first_line(exc, '')})") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, struct.error, AttributeError,
            TypeError) as exc:
        reason = first_line(exc).split(". ")[0]  # torch appends paragraphs of advice to the cause
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({reason})") from None
    if not isinstance(payload, dict) or any(key not in payload for key in REQUIRED_KEYS):
        raise CheckpointError(f"{path} is not a ganzoo checkpoint")
    if payload["format"] != FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {payload['format']!r}; this ganzoo reads {FORMAT!r}")
    return payload


def _seal_problem(path: Path) -> str | None:
    try:
        return seal_problem(path)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None


def checkpoint_step(path: Path) -> int | None:
    """The step of the checkpoint at ``path`` (its tensors mapped, not read); None when
    it is unreadable."""
    try:
        return int(load_checkpoint(path, mmap=True)["step"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None
