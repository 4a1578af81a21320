"""Run folders: one new folder per training run, never reused.

A run folder holds ``config.yaml`` (the resolved recipe and where it came from),
``metrics.jsonl``, ``samples/``, ``checkpoints/`` and, at the end, ``loss_curve.png``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ..errors import GanzooError, UsageError
from ..files import write_text_atomic

RUNS_DIR_ENV = "GANZOO_RUNS_DIR"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"


def runs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``--runs-dir``, else ``$GANZOO_RUNS_DIR``, else ``./runs``."""
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs")


def create_run(root: Path, model: str, recipe: str) -> Path:
    """Make a fresh run folder ``MODEL-RECIPE-YYYYmmdd-HHMMSS[-N]`` under ``root``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{model}-{recipe}-{stamp}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            folder = root / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            (folder / "samples").mkdir()
            (folder / "checkpoints").mkdir()
            return folder
    except OSError as exc:
        raise GanzooError(f"cannot create a run folder in {root}: {exc.strerror or exc}") from None
    raise GanzooError(f"cannot find a free run folder name for {base} in {root}")


def write_config(folder: Path, config: dict[str, Any]) -> None:
    try:
        write_text_atomic(folder / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False))
    except OSError as exc:
        raise GanzooError(f"cannot write {folder / CONFIG_FILE}: {exc.strerror or exc}") from None


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GanzooError(f"{folder} is not a readable run folder ({CONFIG_FILE}: {exc})") from None
    if not isinstance(data, dict) or "model" not in data:
        raise GanzooError(f"{path} is not a ganzoo run configuration")
    return data


def runs_in(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(folder, config)`` of every readable run folder under ``root``."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if not (folder / CONFIG_FILE).is_file():
            continue
        try:
            yield folder, read_config(folder)
        except GanzooError:
            continue


def creation_order(folder: Path, config: dict[str, Any]) -> tuple[str, str]:
    """Sorts runs oldest to newest (the folder name breaks ties within a second)."""
    return str(config.get("created", "")), folder.name


def newest_run(root: Path, model: str) -> Path:
    """The most recently created run of ``model`` under ``root``."""
    candidates = [(creation_order(folder, config), folder) for folder, config in runs_in(root)
                  if config.get("model") == model]
    if not candidates:
        raise UsageError(
            f"no run of {model!r} in {root}; train one with 'ganzoo train {model} --recipe mnist' "
            "or pass --run / --checkpoint"
        )
    return max(candidates)[1]


def trim_metrics(folder: Path, step: int) -> list[dict[str, Any]]:
    """Keep the lines of ``metrics.jsonl`` up to ``step`` (a resumed run logs the rest
    again) and return them; the file is rewritten atomically."""
    path = folder / METRICS_FILE
    if not path.is_file():
        return []
    kept, lines = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
            kept.append(record)
            lines.append(line)
    write_text_atomic(path, "".join(f"{line}\n" for line in lines))
    return [r for r in kept if "d_loss" in r]


def now_iso() -> str:
    return datetime.now().isoformat(timespec="seconds")
