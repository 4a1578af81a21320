"""Several ganzoo trainings on one machine's CPU share its cores (``share_cores``).

PyTorch gives every process as many threads as the machine has cores, and OpenMP's
threads spin while they wait: two such trainings on 2 cores each ran 4.3x slower than one
alone, three 15x (docs/performance.md, "Several trainings on one 2-core machine"), while
one-thread trainings side by side lost nothing. So each CPU training writes its process id
into a folder of the trainings running for this user, and every few seconds sets its
threads to its share: the cores it started with divided by the trainings alive, at least
one. A training alone keeps all its threads; one that ends, or dies, hands its share back
(a dead process's entry is removed by the next training that looks).
"""

from __future__ import annotations

import getpass
import os
import tempfile
import time
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


class CoreShare:
    """This process's entry among the CPU trainings in ``directory``; ``poll()`` between
    steps sets torch's threads to this training's share of ``cores``."""

    def __init__(self, directory: Path | None = None, cores: int | None = None):
        self.directory = directory if directory is not None else trainings_dir()
        self.cores = cores or torch.get_num_threads()
        self.entry: Path | None = None
        self._next_look = 0.0

    def __enter__(self) -> CoreShare:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            entry = self.directory / str(os.getpid())
            entry.touch()
            self.entry = entry
        except OSError:  # an unwritable temporary folder: train with the threads as they are
            return self
        self.poll(now=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.entry is not None:
            self.entry.unlink(missing_ok=True)
            self.entry = None
        if torch.get_num_threads() != self.cores:
            torch.set_num_threads(self.cores)

    def trainings(self) -> int:
        """The CPU trainings alive now, this one included; dead ones' entries are removed."""
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
        """Every ``RECHECK_S`` seconds (or ``now``), take this training's share of the cores."""
        if self.entry is None:
            return
        clock = time.monotonic()
        if not now and clock < self._next_look:
            return
        self._next_look = clock + RECHECK_S
        threads = self.share()
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
