"""Continuing a run from one of its earlier checkpoints (``--resume RUN/checkpoints/step_N.pt``):
what the run wrote after that step is set aside in the run folder, not overwritten or lost."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import GanzooError
from ..files import link_or_copy, write_text_atomic
from .checkpoint import checkpoint_step, point_last_at
from .folder import RunFolder, read_metrics

STEP_NAME = re.compile(r"step_(\d+)")


def rewinds(run_dir: Path, chosen: Path) -> bool:
    """Whether continuing from ``chosen`` goes back from where the run stands (its last.pt)."""
    last = RunFolder(run_dir).last
    return not (last.exists() and last.samefile(chosen))


def set_aside_after(run_dir: Path, chosen: Path, step: int) -> Path | None:
    """Move what ``run_dir`` wrote after ``step`` (step checkpoints, sample grids, reports,
    a ``best.pt`` of a later step, metrics lines) into ``RUN/set-aside/after-step_N/`` under
    their own relative paths, keep ``last.pt`` there too, and point ``last.pt`` at
    ``chosen``. Returns that folder, or None when nothing came later."""
    folder = RunFolder(run_dir)
    later = [path for pattern, where in (("step_*.pt", folder.checkpoints), ("step_*.png", folder.samples),
                                         ("step_*", folder.reports))
             for path in where.glob(pattern) if _named_step(path) > step]
    if folder.best.exists() and not folder.best.samefile(chosen) and _checkpoint_step(folder.best) > step:
        later.append(folder.best)
    lines = [line for line, record in read_metrics(run_dir) if record["step"] > step]
    last = folder.last
    try:
        aside = folder.set_aside(step)
        if last.exists():
            kept = aside / last.relative_to(run_dir)
            kept.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(last, kept)
        for path in later:
            target = aside / path.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        if lines:
            aside.mkdir(parents=True, exist_ok=True)
            write_text_atomic(aside / folder.metrics.name, "".join(f"{line}\n" for line in lines))
        point_last_at(chosen)
    except OSError as exc:
        raise GanzooError(f"could not set aside what {run_dir} wrote after step {step}: "
                          f"{exc.strerror or exc}") from None
    return aside if aside.exists() else None


def _named_step(path: Path) -> int:
    match = STEP_NAME.match(path.name)
    return int(match.group(1)) if match else -1


def _checkpoint_step(path: Path) -> float:
    """A checkpoint's step; an unreadable one counts as later than any (it is set aside)."""
    step = checkpoint_step(path)
    return float("inf") if step is None else step
