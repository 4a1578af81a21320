"""Several ganzoo trainings and evaluations on one machine's CPU share its cores
(``share_cores``).

PyTorch gives every process as many threads as the machine has cores, and OpenMP's
threads spin while they wait: two or three such trainings on one machine slow each other
several-fold, while one-thread trainings side by side lose nothing (docs/performance.md,
"Several trainings on one 2-core machine"). So each CPU training, evaluation or
sampling writes its process id into a folder of the ganzoo jobs running for this user,
and every few seconds sets its threads to its share: the cores it started with divided by
the jobs alive, at least one. A job alone keeps all its threads; one that ends, or dies,
hands its share back (a dead process's entry is removed by the next job that looks).
An entry holds its process's start time where the system tells it (Linux), so an entry
left by a killed job no longer counts once its process id is reused. Long loops call
:func:`poll` between pieces of work. A process with threads of its own choosing (the test
suite's workers) can count itself in with :func:`counted`; a process counts once however
many shares and counts it holds.
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


def _start_time(pid: int | str) -> str | None:
    """When process ``pid`` (or ``"self"``) started, in clock ticks since boot (field 22 of
    Linux's ``/proc/PID/stat``): with the id it names one process, even after the id is
    reused. None where the system does not tell (no ``/proc``) or the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the name in brackets may hold spaces
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, started: str = "") -> bool:
    """Whether the process of an entry is alive: ``pid`` runs and, where the entry recorded
    its ``started`` time and the system tells, it is the process that wrote the entry."""
    if started:
        now = _start_time(pid)
        if now is not None and now != started:
            return False  # the id is another process's now: the entry's job died
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


_holders: dict[Path, int] = {}  # this process's entries: how many shares and counts hold each


def _enter(directory: Path) -> Path | None:
    """This process's entry in ``directory`` (None where it cannot be written): one file
    named by the process id, holding its start time, shared by all it holds there."""
    entry = directory / str(os.getpid())
    if not _holders.get(entry):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            entry.write_text(_start_time("self") or "")
        except OSError:
            return None
    _holders[entry] = _holders.get(entry, 0) + 1
    return entry


def _leave(entry: Path | None) -> None:
    if entry is None:
        return
    _holders[entry] -= 1
    if not _holders[entry]:  # the last share or count of this process there
        del _holders[entry]
        entry.unlink(missing_ok=True)


def _recorded_start(entry: Path) -> str:
    try:
        return entry.read_text().strip()
    except (OSError, ValueError):  # gone meanwhile, or unreadable: judged by its process id alone
        return ""


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
            if _alive(int(path.name), _recorded_start(path)):
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
