"""Writing files so that a crash never leaves half of one behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` to write; when the block succeeds it is
    flushed to disk and renamed over ``path`` (readers see the old file or the new one,
    never a part); when it fails it is removed and ``path`` is untouched."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync(path: Path) -> None:
    """Flush a file or a folder to disk; a file system that cannot is left as it is."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    with replaced_atomically(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextmanager
def folder_replaced_atomically(path: Path) -> Iterator[Path]:
    """A fresh temporary folder beside ``path`` to fill; when the block succeeds it is
    renamed to ``path`` (an existing ``path`` is moved aside first and removed after),
    when it fails (an error, Ctrl-C) it is removed and ``path`` is untouched."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    old = None
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def new_folder_whole(folder: Path) -> Iterator[Path]:
    """Where to write a folder's files: a new ``folder`` is built beside it and appears
    whole when the block succeeds (nothing when it fails); an existing one (the user's own,
    or ``--force``) is written in place, leaving its other files alone."""
    folder = Path(folder)
    if folder.exists():
        yield folder
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    with folder_replaced_atomically(folder) as building:
        yield building


def first_free(folder: Path, stem: str, suffix: str = "") -> Path:
    """``folder/STEM+SUFFIX``, or ``STEM-2``, ``STEM-3``... when taken: never an existing path."""
    path, number = folder / f"{stem}{suffix}", 2
    while path.exists():
        path, number = folder / f"{stem}-{number}{suffix}", number + 1
    return path
