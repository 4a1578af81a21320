"""Continuing a run from one of its earlier checkpoints (``--resume RUN/checkpoints/step_N.pt``):
what the run wrote after that step is set aside in the run folder, not overwritten or lost."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SetAside:
    """What going back to ``chosen`` (the checkpoint of ``step``) moves out of the way,
    worked out before anything moves: the later step checkpoints, sample grids, reports,
    a ``best.pt`` of a later step, the later metrics lines, and ``last.pt`` (kept as it
    was). ``folder`` is where they go, None when there is nothing to keep."""

    run_dir: Path
    chosen: Path
    step: int
    later: tuple[Path, ...]
    lines: tuple[str, ...]
    folder: Path | None


def plan_set_aside(run_dir: Path, chosen: Path, step: int) -> SetAside:
    """What :func:`set_aside` will move when the run goes back to ``chosen``; nothing moves yet."""
    folder = RunFolder(run_dir)
    later = [path for pattern, where in (("step_*.pt", folder.checkpoints), ("step_*.png", folder.samples),
                                         ("step_*", folder.reports))
             for path in where.glob(pattern) if _named_step(path) > step]
    if folder.best.exists() and not folder.best.samefile(chosen) and _checkpoint_step(folder.best) > step:
        later.append(folder.best)
    lines = [line for line, record in read_metrics(run_dir) if record["step"] > step]
    keeps = folder.last.exists() or later or lines
    return SetAside(run_dir, chosen, step, tuple(later), tuple(lines), folder.set_aside(step) if keeps else None)


def set_aside(plan: SetAside) -> None:
    """Move what the run wrote after the step into ``RUN/set-aside/after-step_N/`` under
    their own relative paths, keep ``last.pt`` there too, and point ``last.pt`` at the
    chosen checkpoint."""
    folder = RunFolder(plan.run_dir)
    try:
        if plan.folder is not None and folder.last.exists():
            kept = plan.folder / folder.last.relative_to(plan.run_dir)
            kept.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(folder.last, kept)
        for path in plan.later:
            target = plan.folder / path.relative_to(plan.run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        if plan.lines:
            plan.folder.mkdir(parents=True, exist_ok=True)
            write_text_atomic(plan.folder / folder.metrics.name, "".join(f"{line}\n" for line in plan.lines))
        point_last_at(plan.chosen)
    except OSError as exc:
        raise GanzooError(f"could not set aside what {plan.run_dir} wrote after step {plan.step}: "
                          f"{exc.strerror or exc}") from None


def _named_step(path: Path) -> int:
    match = STEP_NAME.match(path.name)
    return int(match.group(1)) if match else -1


def _checkpoint_step(path: Path) -> float:
    """A checkpoint's step; an unreadable one counts as later than any (it is set aside)."""
    step = checkpoint_step(path)
    return float("inf") if step is None else step
