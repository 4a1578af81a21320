"""Several ganzoo trainings and evaluations on one machine's CPU share its cores
(``share_cores``).

PyTorch gives every process as many threads as the machine has cores, and OpenMP's
threads spin while they wait: two such trainings on 2 cores each ran 4.3x slower than one
alone, three 15x (docs/performance.md, "Several trainings on one 2-core machine"), while
one-thread trainings side by side lost nothing. So each CPU training, evaluation or
sampling writes its process id into a folder of the ganzoo jobs running for this user,
and every few seconds sets its threads to its share: the cores it started with divided by
the jobs alive, at least one. A job alone keeps all its threads; one that ends, or dies,
hands its share back (a dead process's entry is removed by the next job that looks).
Long loops call :func:`poll` between pieces of work. A process with threads of its own
choosing (the test suite's workers) can count itself in with :func:`counted`.
"""

from __future__ import annotations

import getpass
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

RECHECK_S = 2.0  # seconds between looks at the folder (a directory listing; the step is ~100 ms)
TRAININGS_DIR_ENV = "GANZOO_TRAININGS_DIR"


def trainings_dir() -> Path:
    """``$GANZOO_TRAININGS_DIR``, else a folder of this user's in the temporary directory."""
    given = os.environ.get(TRAININGS_DIR_ENV, "").strip()
    if given:
        return Path(given)
    user = os.getuid() if hasattr(os, "getuid") else getpass.getuser()
    return Path(tempfile.gettempdir()) / f"ganzoo-{user}" / "cpu-trainings"


def shares_by_default(device: torch.device) -> bool:
    """``share_cores``' auto: on the CPU where processes can be asked after (POSIX),
    unless a user or torchrun set the threads (``OMP_NUM_THREADS``): those are theirs."""
    return device.type == "cpu" and os.name == "posix" and not os.environ.get("OMP_NUM_THREADS")


def _alive(pid: int) -> bool:
    if os.name != "posix":  # Windows' os.kill would end the process, not ask after it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process under that id
        return True
    except OSError:
        return False
    return True


def _enter(directory: Path) -> Path | None:
    """This process's entry in ``directory`` (None where it cannot be written)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        entry = directory / str(os.getpid())
        entry.touch()
        return entry
    except OSError:
        return None


def _leave(entry: Path | None) -> None:
    if entry is not None:
        entry.unlink(missing_ok=True)


class CoreShare:
    """This process's entry among the ganzoo CPU jobs in ``directory``; ``poll()`` between
    steps or batches sets torch's threads to this job's share of ``cores``."""

    def __init__(self, directory: Path | None = None, cores: int | None = None):
        self.directory = directory if directory is not None else trainings_dir()
        self.cores = cores or torch.get_num_threads()
        self.entry: Path | None = None
        self._next_look = 0.0
        self._fewest: int | None = None  # since the last fewest_threads()

    def __enter__(self) -> CoreShare:
        _entered.append(self)
        self.entry = _enter(self.directory)
        if self.entry is not None:  # else an unwritable temporary folder: the threads stay as they are
            self.poll(now=True)
        return self

    def __exit__(self, *exc: object) -> None:
        _entered.remove(self)
        _leave(self.entry)
        self.entry = None
        if torch.get_num_threads() != self.cores:
            torch.set_num_threads(self.cores)

    def trainings(self) -> int:
        """The ganzoo CPU jobs alive now (trainings, evaluations), this one included; dead
        ones' entries are removed."""
        alive = 1
        try:
            entries = list(self.directory.iterdir())
        except OSError:
            return alive
        for path in entries:
            if not path.name.isdigit() or int(path.name) == os.getpid():
                continue
            if _alive(int(path.name)):
                alive += 1
            else:
                path.unlink(missing_ok=True)
        return alive

    def share(self) -> int:
        return max(1, self.cores // self.trainings())

    def poll(self, now: bool = False) -> None:
        """Every ``RECHECK_S`` seconds (or ``now``), take this job's share of the cores."""
        if self.entry is None:
            return
        clock = time.monotonic()
        if not now and clock < self._next_look:
            return
        self._next_look = clock + RECHECK_S
        threads = self.share()
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        self._fewest = threads if self._fewest is None else min(self._fewest, threads)

    def fewest_threads(self) -> int:
        """The fewest threads this job ran with since the last call (a training's metrics
        line records it: a share of the cores changes the speed and the last bits)."""
        now = torch.get_num_threads()
        fewest, self._fewest = self._fewest, now
        return now if fewest is None else min(fewest, now)


_entered: list[CoreShare] = []  # this process's shares while entered: the threads are the process's


def poll() -> None:
    """Between pieces of CPU work: take this process's share of the cores, if it has
    entered one and the time to look again has come (a clock read otherwise)."""
    if _entered:
        _entered[-1].poll()


@contextmanager
def counted(directory: Path | None = None) -> Iterator[None]:
    """Inside, this process counts as one of the jobs among which ganzoo's CPU jobs share
    the cores, while its own threads stay as they are: for a program with threads of its
    own choosing (``OMP_NUM_THREADS``) beside ganzoo's trainings, which then leave it its
    share. ganzoo's test suite enters each of its worker processes."""
    entry = _enter(directory if directory is not None else trainings_dir())
    try:
        yield
    finally:
        _leave(entry)


@contextmanager
def shared_cores(device: torch.device, on: bool | None = None) -> Iterator[CoreShare | None]:
    """The CPU work inside (a training, an evaluation, a sampling) takes part in the
    sharing and yields its share: ``on`` is a run's ``share_cores`` (None: its auto rule).
    The threads are the process's, so it shares once: inside another share (a training's
    evaluation) it runs on that one."""
    if on is False:
        yield None
    elif _entered:
        yield _entered[-1]
    elif on or shares_by_default(device):
        with CoreShare() as share:
            yield share
    else:
        yield None
