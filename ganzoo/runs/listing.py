"""``ganzoo runs``: every run folder under a runs folder, with where it stands: training
now (and by which process), stopped (resumable), finished, failed before its first
checkpoint, or damaged; its step, training time and newest evaluation report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..files import REPORT_LIMIT, read_limited
from ..recipes import recorded_name
from . import lock
from .checkpoint import checkpoint_step
from .folder import RunFolder, creation_order, metric_records, runs_in


def list_runs(root: Path, model: str | None = None, recipe: str | None = None) -> list[dict[str, Any]]:
    """One dict per readable run folder under ``root`` (oldest first), filtered by
    ``model`` / ``recipe`` (a name, or the YAML file the runs were trained from)."""
    recipe = None if recipe is None else recorded_name(recipe)
    found = [(creation_order(folder, config), folder, config) for folder, config in runs_in(root)
             if (model is None or config.get("model") == model) and (recipe is None or config.get("recipe") == recipe)]
    return [describe_run(folder, config) for _, folder, config in sorted(found, key=lambda item: item[0])]


def describe_run(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    run = RunFolder(folder)
    losses = [record for record in metric_records(folder) if "d_loss" in record]
    total = planned_steps(config)
    step, state = None, "failed"  # a run with no checkpoint failed (or was killed) before its first one
    if run.last.is_file():
        step = checkpoint_step(run.last)
        state = "damaged" if step is None else "finished" if total is not None and step >= total else "stopped"
    elif any(run.checkpoints.glob("*.pt")):
        state = "damaged"  # step checkpoints without last.pt: --resume names the newest intact one
    training = lock.is_training(folder)
    if training:
        state = "training"
    return {
        "run": str(folder),
        "model": config.get("model"),
        "recipe": config.get("recipe"),
        "created": config.get("created"),
        "state": state,
        "process": lock.recorded_process(folder) if training else None,
        "checkpoint_step": step,
        "logged_step": losses[-1]["step"] if losses else None,
        "total_steps": total,
        "train_seconds": losses[-1].get("elapsed_s") if losses else None,
        "report": newest_report(run),
    }


def planned_steps(config: dict[str, Any]) -> int | None:
    """The run's budget in generator steps: recorded since ganzoo 0.5.5, else worked out as
    the trainer does (epochs of whole global batches, n_critic batches a step, capped by max_steps)."""
    if isinstance(config.get("total_steps"), int):
        return config["total_steps"]
    settings, data = config.get("settings") or {}, (config.get("data") or {}).get("train") or {}
    try:
        batches = int(data["images"]) // (int(settings["batch_size"]) * int(config.get("processes", 1)))
        total = int(settings["epochs"]) * batches // int(settings.get("n_critic", 1))
        return min(total, int(settings["max_steps"])) if settings.get("max_steps") is not None else total
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def newest_report(run: RunFolder) -> dict[str, Any] | None:
    """The headline of the run's report of the highest step (of several at that step, the
    one made last): its folder, step, the real split it compared against, classifier FID
    and (conditional models) the judge's mean per-class accuracy."""
    best: tuple[tuple[int, str], Path, dict[str, Any]] | None = None
    for path in run.reports.glob("*/report.json"):
        try:
            report = json.loads(read_limited(path, REPORT_LIMIT, "report"))
            order = (int(report["step"]), str(report.get("created", "")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if best is None or order > best[0]:
            best = (order, path.parent, report)
    if best is None:
        return None
    (step, _), folder, report = best
    metrics = report.get("metrics") or {}
    return {"folder": str(folder), "step": step, "real_split": (report.get("real_split") or {}).get("split", "test"),
            "classifier_fid": (metrics.get("classifier_fid") or {}).get("value"),
            "accuracy_mean": (metrics.get("accuracy") or {}).get("mean")}
