"""What the command line prints, as text: the listings' rows, the runs table, an
evaluation's summary lines and a leaderboard's table. Torch-free: ``ganzoo runs``,
``--help`` and the listings print without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .splits import HELD_OUT_SPLIT


def columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells, each column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def model_line(row: dict[str, Any]) -> str:
    if "contested_by" in row:
        return f"{row['name']:<16} {'not available':<14} {'':<12} {row['name']!r} {row['note']}"
    kind = {True: "conditional", False: "unconditional"}.get(row["conditional"], str(row["conditional"]))
    return f"{row['name']:<16} {kind:<14} {row['plugin']:<12} {row['description']}"


def recipe_line(row: dict[str, Any]) -> str:
    tuned = f" (tuned by plugins for: {', '.join(row['tuned_by'])})" if row["tuned_by"] else ""
    return f"{row['name']:<16} {row['owner']:<12} {row['description']}{tuned}"


def dataset_line(row: dict[str, Any]) -> str:
    return f"{row['name']:<16} {row['plugin']:<12} {row['description']}"


def metric_line(row: dict[str, Any]) -> str:
    return f"{row['name']:<20} {row['plugin']:<12} {row['better']:<7} {row['applies']:<14} {row['description']}"


KINDS = {"model": "models", "loss": "losses", "recipe": "recipes", "tuning": "recipe tunings", "dataset": "datasets",
         "metric": "metrics", "logger": "loggers", "callback": "callbacks"}


def plugin_line(row: dict[str, Any]) -> str:
    """The plugin's line, and under it what it registers."""
    origin = f"{row['distribution']} {row['version']}".strip() or "?"
    status = row["status"] if row["status"] == "ok" else f"{row['status']}: {row['reason']}"
    line = f"{row['name']:<16} {origin:<24} {status:<8} {row['location']}"
    registers = "; ".join(f"{KINDS.get(kind, kind)} {', '.join(names)}" for kind, names in row.get("registers", {}).items())
    return line + (f"\n{'':<16} registers {registers}" if registers else "")


def runs_table(rows: list[dict[str, Any]]) -> list[str]:
    """``ganzoo runs``: one line per run, oldest first."""
    table = [("run", "model", "recipe", "state", "step", "trained", "newest report")]
    table += [(Path(row["run"]).name, str(row["model"]), str(row["recipe"]), _state_text(row), _step_text(row),
               _duration_text(row["train_seconds"]), _report_text(row["report"])) for row in rows]
    return columns(table)


def _state_text(row: dict[str, Any]) -> str:
    if row["state"] == "training" and row["process"]:
        return f"training (process {row['process']})"
    return row["state"]


def _step_text(row: dict[str, Any]) -> str:
    """The checkpoint's step (where --resume continues), the logged one while training."""
    step = row["logged_step"] if row["state"] == "training" else row["checkpoint_step"]
    step = "-" if step is None else f"{step:,}"
    return f"{step}/{row['total_steps']:,}" if row["total_steps"] else step


def _duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def _report_text(report: dict[str, Any] | None) -> str:
    if report is None:
        return "-"
    parts = [f"step {report['step']:,}"]
    if isinstance(report["classifier_fid"], (int, float)):
        against = " (vs train)" if report.get("real_split") == "train" else ""
        parts.append(f"classifier FID {report['classifier_fid']:.2f}{against}")
    if isinstance(report["accuracy_mean"], (int, float)):
        parts.append(f"accuracy {100 * report['accuracy_mean']:.1f}%")
    return ", ".join(parts)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """An evaluation report (report.json's content) in a few lines: the judge, the real
    images compared against, warnings, then each metric's summary."""
    m = report["metrics"]
    judge, real_split = report.get("judge"), report.get("real_split", {})
    if judge is None:
        lines = [f"judge: none ({report.get('judge_unavailable')})"]
    elif judge.get("tested_on", real_split.get("split")) == HELD_OUT_SPLIT:
        lines = [f"judge accuracy on held-out real images: {judge['test_accuracy']:.2%} (every 10th of each class: "
                 "the data have no test split)"]
    else:
        lines = [f"judge accuracy on real test images: {judge['test_accuracy']:.2%}"]
    if real_split.get("split") == "train":
        lines.append(f"compared against: the real training split ({real_split.get('images')} images)")
    if report.get("generator_weights") == "ema":
        lines.append("generator: the EMA weights")
    lines += [f"warning: {warning}" for warning in report.get("warnings", [])]
    for row in report.get("summary", []):
        text = f"{row['label']}: {row['summary']}"
        if row["key"] == "classifier_fid":
            text += f" (floor, real vs real: {m['classifier_fid']['floor']:.2f})"
        if row["key"] == "inception_fid" and m["inception_fid"]["status"] != "ok":
            text += " (see report)"
        lines.append(text)
    return lines


def leaderboard_table(markdown: Path) -> str:
    """The table lines of a leaderboard.md, without the sample-grid column."""
    lines = [line for line in markdown.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    return "\n".join(line.rsplit("|", 2)[0] + "|" for line in lines)
