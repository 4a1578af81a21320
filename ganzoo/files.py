"""Writing files so that a crash never leaves half of one behind, and reading a whole
file no larger than such a file ever is (``read_limited``)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .errors import UsageError

# What a whole-file read may take, by the kind of file: far above any real one, far below
# what would hurt (``--recipe /dev/zero``, a report replaced by something else).
SETTINGS_LIMIT = 1 << 20  # a recipe, a run's config.yaml, a record of ganzoo's (the W&B run's id)
REPORT_LIMIT = 64 << 20  # an evaluation's or a leaderboard's JSON


class TooLargeToRead(ValueError):
    """A file past the size its kind ever has."""


def read_limited(path: Path, limit: int, what: str = "file") -> str:
    """A whole text file, refused (``TooLargeToRead``) past ``limit`` bytes without reading
    further: a size from ``stat`` cannot be trusted (``/dev/zero`` and pipes say 0)."""
    with open(path, "rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise TooLargeToRead(f"{path} is larger than {limit / (1 << 20):g} MiB, more than a {what} ever is")
    return raw.decode("utf-8")


def check_outputs(targets: Sequence[Path], force: bool) -> None:
    """Refuse, before any work, outputs that exist (unless ``force``) or whose folder
    cannot be (:func:`check_room_for`); ``targets`` lie in one folder."""
    for target in targets:
        if target.exists() and not force:
            raise UsageError(f"{target} already exists; choose another --out or pass --force to overwrite it")
    check_room_for(targets[0])


def check_room_for(out: Path) -> None:
    """Refuse an output whose folder cannot be: a file standing where one of its folders
    belongs (``--out existing.png/x.png`` said "File exists"). Missing folders are fine:
    they are made when the output is written."""
    for ancestor in (out.parent, *out.parent.parents):
        if ancestor.exists() or ancestor.is_symlink():
            if not ancestor.is_dir():
                raise UsageError(f"{ancestor} is a file, so it cannot hold {out}; choose another --out")
            return


def check_folder_can_be_written(folder: Path, what: str, hint: str = "") -> None:
    """Before long work whose result goes to ``folder``: a one-line :class:`UsageError`
    when it is a file, or when nothing can be written where it is or would be made (a
    read-only file system, /proc). ``hint`` ends the line (say, "choose another --out")."""
    folder = Path(folder)
    ending = f"; {hint}" if hint else ""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{what} {folder} is a file, not a folder{ending}")
    nearest = next(parent for parent in (folder, *folder.parents) if parent.exists())
    if not nearest.is_dir():
        raise UsageError(f"{what} {folder} cannot be made: {nearest} is a file{ending}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".ganzoo-probe.", dir=nearest))
    except OSError as exc:
        inside = "" if nearest == folder else f" (in {nearest})"
        raise UsageError(f"cannot write {what} {folder}: {exc.strerror or exc}{inside}{ending}") from None


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` to write; when the block succeeds it is
    flushed to disk and renamed over ``path`` (readers see the old file or the new one,
    never a part); when it fails it is removed and ``path`` is untouched."""
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        exc.filename = str(path)
        raise
    os.close(fd)
    tmp = Path(name)
    mode = _mode_as_created(path, folder=False)
    try:
        yield tmp
        os.chmod(tmp, mode)  # after the writer: some (safetensors) make the file anew
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except OSError as exc:
        _name_the_target(exc, tmp, path)
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def _name_the_target(exc: OSError, tmp: Path, path: Path) -> None:
    """Make an error of writing ``tmp`` (or a file in it) name ``path`` instead: a full
    disk is reported against the file the user asked for, not a temporary name."""
    named = None if exc.filename is None else str(exc.filename)
    if named is None:
        exc.filename = str(path)
    elif named == str(tmp) or named.startswith(str(tmp) + os.sep):
        exc.filename = str(path) + named[len(str(tmp)):]


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


def _mode_as_created(target: Path, folder: bool) -> int:
    """mkstemp / mkdtemp make private files (0600) and folders (0700); what replaces
    ``target`` gets the permissions it has, or else those a plain open() / mkdir() would
    give (0666 / 0777 less the umask), so that run folders stay readable to whom they were."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return (0o777 if folder else 0o666) & ~current_umask()


def current_umask() -> int:
    """The process's umask: read from /proc where Linux shows it (setting it to read it
    would briefly change it for every thread), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` (which must not exist) becomes the same file as ``source``: a hard link
    where the file system allows one, else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


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
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    except OSError as exc:
        exc.filename = str(path)
        raise
    old = None
    try:
        os.chmod(tmp, _mode_as_created(path, folder=True))
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        _fsync(path.parent)
    except OSError as exc:
        _name_the_target(exc, tmp, path)
        raise
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
