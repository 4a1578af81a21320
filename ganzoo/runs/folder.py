"""Run folders: one new folder per training run, never reused; every path in it.

::

    runs/MODEL-RECIPE-YYYYmmdd-HHMMSS/
      config.yaml           the resolved settings and where they came from
      metrics.jsonl         one JSON line per log interval and per evaluation
      samples/              step_NNNNNNN.png grids (and `ganzoo sample`'s default outputs)
      checkpoints/          step_NNNNNNN.pt (the newest k), last.pt, best.pt
      reports/step_NNNNNNN/ report.json, report.md, report.html
      loss_curve.png
      tensorboard/          with --logger tensorboard
      set-aside/after-step_NNNNNNN/   what the run wrote after step N, when a resume went
                            back to that step's checkpoint (the same layout)
      .training.lock        held (flock) by the process that trains the run (runs/lock.py)

:class:`RunFolder` is the only place that spells these names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from .. import yamlfile
from ..errors import DataError, GanzooError, UsageError
from ..files import first_free, write_text_atomic
from .checkpoint import LAST

RUNS_DIR_ENV = "GANZOO_RUNS_DIR"
# Loss names of ganzoo 0.1 that are standard losses now (their settings mean the same).
RENAMED_LOSSES = {"bce": "non-saturating", "wgan-gp": "wasserstein"}


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / LAST

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def loss_curve(self) -> Path:
        return self.root / "loss_curve.png"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def sample_grid(self, step: int) -> Path:
        return self.samples / f"step_{step:07d}.png"

    def step_checkpoint_name(self, step: int) -> str:
        return f"step_{step:07d}.pt"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def report(self, step: int) -> Path:
        """A new ``reports/step_NNNNNNN[-N]`` folder name (never an existing one)."""
        return first_free(self.reports, f"step_{step:07d}")

    def set_aside(self, step: int) -> Path:
        """A new ``set-aside/after-step_NNNNNNN[-N]`` folder name, for what the run wrote
        after ``step`` when it goes back to that step."""
        return first_free(self.root / "set-aside", f"after-step_{step:07d}")

    @classmethod
    def of_checkpoint(cls, checkpoint: Path) -> RunFolder | None:
        """The run folder a checkpoint file lies in, or None for a loose file."""
        return cls(checkpoint.parent.parent) if checkpoint.parent.name == "checkpoints" else None


def runs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``--runs-dir``, else ``$GANZOO_RUNS_DIR``, else ``./runs``."""
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs")


def create_run(root: Path, model: str, recipe: str) -> Path:
    """Make a fresh run folder ``MODEL-RECIPE-YYYYmmdd-HHMMSS[-N]`` under ``root``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{model}-{recipe}-{stamp}"
    if root.exists() and not root.is_dir():
        raise GanzooError(f"cannot create a run folder in {root}: it is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            folder = root / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            run = RunFolder(folder)
            run.samples.mkdir()
            run.checkpoints.mkdir()
            return folder
    except OSError as exc:
        raise GanzooError(f"cannot create a run folder in {root}: {exc.strerror or exc}") from None
    raise GanzooError(f"cannot find a free run folder name for {base} in {root}")


def write_config(folder: Path, config: dict[str, Any]) -> None:
    path = RunFolder(folder).config
    try:
        write_text_atomic(path, yaml.safe_dump(config, sort_keys=False))
    except OSError as exc:
        raise GanzooError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_config(folder: Path) -> dict[str, Any]:
    path = RunFolder(folder).config
    try:
        data = yamlfile.load(yamlfile.read_bounded(path))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanzooError(f"{folder} is not a readable run folder ({path.name}: {first})") from None
    if not isinstance(data, dict) or "model" not in data:
        raise GanzooError(f"{path} is not a ganzoo run configuration")
    return data


def upgrade_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """A run's saved settings in today's names (runs of ganzoo 0.1 named two standard
    losses otherwise)."""
    settings = dict(saved)
    if settings.get("loss") in RENAMED_LOSSES:
        settings["loss"] = RENAMED_LOSSES[settings["loss"]]
    return settings


def data_record(given: str | os.PathLike | None, root: Path, train_fingerprint: dict[str, Any]) -> dict[str, Any]:
    """What config.yaml keeps of a run's training data: the folder as given (None: the
    default), as an absolute path, and the training split's fingerprint."""
    return {"given": str(given) if given is not None else None, "dir": str(Path(root).expanduser().resolve()),
            "train": train_fingerprint}


def recorded_data_dir(config: dict[str, Any], explicit: Path | None, where: str) -> Path | None:
    """The data folder a command on a run uses: ``explicit`` (``--data-dir`` or
    ``$GANZOO_DATA_DIR``) when given, else the folder the run was trained from (None for
    runs that recorded none, or that used the default folder and find it gone). A folder
    the user gave that is gone is one clear error."""
    if explicit is not None:
        return explicit
    record = config.get("data")
    if not isinstance(record, dict) or not record.get("dir"):
        return None
    folder = Path(record["dir"])
    if not folder.is_dir() and record.get("given") is None:
        return None  # trained on the default folder, which need not exist (a dataset made on the fly)
    if not folder.is_dir():
        raise DataError(f"{where} was trained on data from {folder}, which no longer exists; point --data-dir "
                        "(or GANZOO_DATA_DIR) at a copy of that data")
    return folder


def runs_in(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(folder, config)`` of every readable run folder under ``root``."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if not RunFolder(folder).config.is_file():
            continue
        try:
            yield folder, read_config(folder)
        except GanzooError:
            continue


def creation_order(folder: Path, config: dict[str, Any]) -> tuple[str, str]:
    """Sorts runs oldest to newest (the folder name breaks ties within a second)."""
    return str(config.get("created", "")), folder.name


def newest_run(root: Path, model: str) -> Path:
    """The most recently created run of ``model`` under ``root`` that holds a checkpoint
    (a run that failed before its first checkpoint is no run to sample or resume)."""
    candidates = [(creation_order(folder, config), folder) for folder, config in runs_in(root)
                  if config.get("model") == model]
    usable = [(order, folder) for order, folder in candidates if any(RunFolder(folder).checkpoints.glob("*.pt"))]
    if not usable:
        without = f" ({len(candidates)} without a checkpoint)" if candidates else ""
        raise UsageError(
            f"no run of {model!r} with a checkpoint in {root}{without}; train one with 'ganzoo train {model} "
            "--recipe mnist' or pass --run / --checkpoint"
        )
    return max(usable)[1]


# -- metrics.jsonl ----------------------------------------------------------------------
def append_metrics(folder: Path, record: dict[str, Any]) -> None:
    with open(RunFolder(folder).metrics, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


MAX_METRICS_LINE = 1 << 20  # characters; a line of ganzoo's is well under 10 KB


def read_metrics(folder: Path | None) -> list[tuple[str, dict[str, Any]]]:
    """Every readable line of ``metrics.jsonl`` as ``(line, record)``, read line by line;
    a line cut short by a crash is skipped, and reading stops at a line of more than
    ``MAX_METRICS_LINE`` characters (not a log of ganzoo's from there on). Loss lines hold
    ``d_loss``, evaluation lines ``eval``."""
    path = RunFolder(folder).metrics if folder is not None else None
    if path is None or not path.is_file():
        return []
    out = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        while line := lines.readline(MAX_METRICS_LINE + 1):
            if len(line) > MAX_METRICS_LINE:
                break  # no line of ganzoo's is near this: what follows is not its log
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                out.append((line.rstrip("\n"), record))
    return out


def metric_records(folder: Path | None) -> list[dict[str, Any]]:
    return [record for _, record in read_metrics(folder)]


def trim_metrics(folder: Path, step: int) -> list[dict[str, Any]]:
    """Keep the lines of ``metrics.jsonl`` up to ``step`` (a resumed run logs the rest
    again) and return its loss lines; the file is rewritten atomically."""
    path = RunFolder(folder).metrics
    if not path.is_file():
        return []
    kept = [(line, record) for line, record in read_metrics(folder) if record["step"] <= step]
    write_text_atomic(path, "".join(f"{line}\n" for line, _ in kept))
    return [record for _, record in kept if "d_loss" in record]


def now_iso() -> str:
    return datetime.now().isoformat(timespec="seconds")
