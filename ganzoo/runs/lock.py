"""One writer per run folder: a training holds ``RUN/.training.lock`` (an exclusive
advisory ``flock``) from start to end, so a second ``ganzoo train --resume`` of the same
run is refused instead of interleaving its checkpoints and log with the first's. The
kernel drops the lock when the process ends, however it ends (kill -9 included): no
stale lock. Looking (``check_free``, ``is_training``) takes a shared lock for an instant
and writes nothing. Where ``fcntl`` is missing (Windows) there is no lock."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UsageError
from ..files import read_limited

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = ".training.lock"
TAKE_TRIES, TAKE_PAUSE_S = 20, 0.05  # a look at the folder holds its shared lock for microseconds


@contextmanager
def training(run_dir: Path, hint: str = "") -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block, with this process's id in the file; refuse
    (UsageError) when another process trains the run."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield  # a folder that cannot take a file cannot be trained either; that error comes next
        return
    try:
        if not _take(fd, fcntl.LOCK_EX, TAKE_TRIES):
            raise UsageError(_refusal(run_dir, hint))
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the file drops the lock


def check_free(run_dir: Path, hint: str = "") -> None:
    """Refuse at once (UsageError) when another process trains ``run_dir``."""
    if is_training(run_dir):
        raise UsageError(_refusal(run_dir, hint))


def is_training(run_dir: Path) -> bool:
    if fcntl is None:
        return False
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDONLY)
    except OSError:  # no lock file: never trained by a ganzoo that locks, so not now
        return False
    try:
        return not _take(fd, fcntl.LOCK_SH, 1)
    finally:
        os.close(fd)


def recorded_process(run_dir: Path) -> int | None:
    """The process id the run's newest training wrote into its lock file."""
    try:
        text = read_limited(Path(run_dir) / LOCK_NAME, 64, "lock file").strip()
    except (OSError, ValueError):  # UnicodeDecodeError and TooLargeToRead are ValueErrors
        return None
    return int(text) if text.isdigit() else None


def _take(fd: int, kind: int, tries: int) -> bool:
    for attempt in range(tries):
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < tries:
                time.sleep(TAKE_PAUSE_S)
    return False


def _refusal(run_dir: Path, hint: str) -> str:
    pid = recorded_process(run_dir)
    holder = f"process {pid}" if pid is not None else "another process"
    return (f"{run_dir} is being trained by {holder}; let it finish or stop it (Ctrl-C saves a checkpoint) "
            f"before resuming it{hint}")
