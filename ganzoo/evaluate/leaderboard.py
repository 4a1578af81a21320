"""``ganzoo leaderboard``: the newest run of every model trained on one recipe, each
evaluated by the shared evaluator against one reference (same data, same judge, same
number of samples, same seed), in one Markdown and one HTML table."""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import load_generator
from ..cores import shared_cores
from ..device import resolve_device
from ..errors import CheckpointError, UsageError, did_you_mean
from ..files import check_folder_can_be_written, new_folder_whole, write_text_atomic
from ..recipes import recorded_name
from ..runs.folder import RunFolder, creation_order, metric_records, now_iso, recorded_data_dir
from ..runs.folder import runs_dir as default_runs_dir
from ..runs.folder import runs_in
from ..splits import check_real_split, real_split_name
from ..zoo import has_model, recorded_plugin
from .options import EvaluationOptions
from .report import judge_split_name, write_report
from .run import Reference, evaluate_generator, package_versions, parse_metrics, registered_metrics


@dataclass
class Entry:
    model: str
    run: Path
    config: dict[str, Any]


def newest_runs(root: Path, recipe: str) -> list[Entry]:
    """The newest run with a checkpoint of each model trained on ``recipe``, by model name."""
    newest: dict[str, tuple[tuple[str, str], Entry]] = {}
    for folder, config in runs_in(root):
        if config.get("recipe") != recipe or not RunFolder(folder).last.is_file():
            continue
        order, model = creation_order(folder, config), str(config["model"])
        if model not in newest or order > newest[model][0]:
            newest[model] = (order, Entry(model, folder, config))
    return [newest[m][1] for m in sorted(newest)]


def training_budget(run: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Steps, images seen and training wall time, read from the run's metrics log."""
    records = [r for r in metric_records(run) if "d_loss" in r]
    settings = config.get("settings", {})
    batch = int(settings.get("batch_size", 0)) * int(config.get("processes", 1))  # the global batch
    critic = int(settings.get("n_critic", 1))
    steps = records[-1]["step"] if records else 0
    if records and "elapsed_s" in records[-1]:
        seconds = float(records[-1]["elapsed_s"])
    else:  # older runs: the time the logged intervals took
        seconds, previous = 0.0, 0
        for r in records:
            if r.get("images_per_s"):
                seconds += (r["step"] - previous) * batch / r["images_per_s"]
            previous = r["step"]
    budget = {"steps": steps, "real_images_seen": steps * batch * critic, "n_critic": critic,
              "train_seconds": seconds, "device": config.get("device")}
    started = (config.get("speed") or {}).get("cpu_threads")
    threads = [r["cpu_threads"] for r in records if isinstance(r.get("cpu_threads"), int)]
    if started and threads and min(threads) < started:  # other ganzoo jobs shared the cores for a while
        budget["cpu_threads"], budget["fewest_cpu_threads"] = started, min(threads)
    return budget


def leaderboard(
    recipe: str,
    *,
    runs_dir: Path | None = None,
    rank_by: str | None = None,
    options: EvaluationOptions = EvaluationOptions(),
) -> Path:
    """Evaluate the newest run of every model trained on ``recipe`` alike and write the
    leaderboard; return its folder."""
    chosen = parse_metrics(options.metrics)
    check_real_split(options.real_split)
    if rank_by is not None and rank_by not in chosen:
        raise UsageError(f"--rank-by {rank_by!r} is not among the chosen metrics ({', '.join(chosen)})")
    root = default_runs_dir(runs_dir)
    recipe = recorded_name(recipe)  # --recipe my/photos.yaml: the runs of recipe 'photos'
    entries = newest_runs(root, recipe)
    if not entries:
        others = sorted({str(config.get("recipe")) for folder, config in runs_in(root)
                         if RunFolder(folder).last.is_file()})
        if others:
            close = did_you_mean(recipe, others)  # "; did you mean ...?", else "; choose from" (listed already)
            hint = (f"; runs with a checkpoint there are of recipe {', '.join(repr(o) for o in others)}"
                    + (close if close.startswith("; did you mean") else ""))
        else:
            hint = f"; train some first, e.g. 'ganzoo train dcgan --recipe {recipe}'"
        raise UsageError(f"no run of recipe {recipe!r} with a checkpoint in {root}{hint}")
    folder = options.out if options.out is not None else root / "leaderboards" / f"{recipe}-{now_iso().replace(':', '')}"
    check_folder_can_be_written(folder, "the leaderboard folder", "choose another --out")
    if (folder / "leaderboard.json").exists() and not options.force:
        raise UsageError(f"{folder} already holds a leaderboard; pass --force to overwrite it or choose another --out")
    torch_device = resolve_device(options.device)
    first = entries[0]
    reference = Reference(first.config["settings"], recorded_data_dir(first.config, options.data_dir, str(first.run)),
                          torch_device, options.progress, options.real_split)
    trained_on = (first.config.get("data") or {}).get("train")
    rank_by = ranking_metric(rank_by, chosen, reference)
    better = next(m.better for m in registered_metrics() if m.name == rank_by)

    # a new leaderboard folder appears whole or not at all; beside other ganzoo jobs, its share of the cores
    with new_folder_whole(folder) as into, shared_cores(torch_device):
        rows: list[dict[str, Any]] = []
        grids: dict[str, str] = {}  # model -> its sample grid, a base64 PNG
        for entry in entries:
            row: dict[str, Any] = {"model": entry.model, "run": str(entry.run), **training_budget(entry.run, entry.config)}
            if not has_model(entry.model, recorded_plugin(entry.config)):
                rows.append({**row, "skipped": f"model {entry.model!r} is not installed"})
                continue
            own = (entry.config.get("data") or {}).get("train")
            if not reference.fits(entry.config["settings"]) or (own and trained_on and own != trained_on):
                rows.append({**row, "skipped": "trained on other data than the first run of this recipe"})
                continue
            checkpoint = RunFolder(entry.run).last
            try:
                generator, config = load_generator(
                    checkpoint, entry.model, torch_device,
                    how_to_use_intact=f"score it with 'ganzoo evaluate {entry.model} --checkpoint {{path}}'")
            except CheckpointError as exc:  # one damaged run does not stop the comparison of the others
                rows.append({**row, "skipped": str(exc)})
                continue
            report, figures, _ = evaluate_generator(
                generator, config, reference, model=entry.model, checkpoint=checkpoint, run_dir=entry.run,
                n_per_class=options.n_per_class, fid_n=options.fid_n, seed=options.seed, chosen=chosen,
            )
            write_report(into / entry.model, report, figures)
            grids[entry.model] = figures["samples"]
            (into / f"{entry.model}.png").write_bytes(base64.b64decode(grids[entry.model]))
            rows.append({**row, "conditional": report["conditional"], "metrics": _by_metric(report),
                         "weights": report["generator_weights"], "step": report["step"],
                         "report": f"{entry.model}/report.html", "warnings": report["warnings"]})

        sign = 1.0 if better == "lower" else -1.0
        rows.sort(key=lambda r: (r.get("skipped") is not None, sign * _number(r.get("metrics", {}).get(rank_by), sign)))
        board = {
            "recipe": recipe,
            "created": now_iso(),
            "runs_dir": str(root),
            "dataset": reference.dataset,
            "samples": {"n_per_class": options.n_per_class, "seed": options.seed, "fid_n": options.fid_n},
            "judge": None if reference.judge is None else {**reference.judge.describe(),
                                                           "tested_on": reference.test_split},
            **({"judge_unavailable": reference.no_judge} if reference.no_judge else {}),
            "real_split": reference.real_split,
            "ranked_by": {"metric": rank_by, "better": better},
            "packages": package_versions(),
            "classifier_fid_floor": reference.classifier_floor(),
            "columns": _columns(rows),
            "rows": rows,
        }
        write_text_atomic(into / "leaderboard.json", json.dumps(board, indent=2, allow_nan=True))
        write_text_atomic(into / "leaderboard.md", to_markdown(board))
        write_text_atomic(into / "leaderboard.html", to_html(board, grids))
    return folder


def ranking_metric(asked: str | None, chosen: tuple[str, ...], reference: Reference) -> str:
    """``--rank-by``, else classifier FID, else the first chosen metric that applies to the data."""
    metrics = {m.name: m for m in registered_metrics()}
    if asked is not None:
        if not reference.applies(metrics[asked]):
            raise UsageError(f"--rank-by {asked!r} needs the judge, and {reference.no_judge}")
        return asked
    usable = [name for name in chosen if reference.applies(metrics[name])] or list(chosen)
    return next((name for name in ("classifier-fid", "inception-fid") if name in usable), usable[0])


def _by_metric(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """metric name -> its headline number and its cell text, from a report's summary."""
    return {row["metric"]: {"headline": row["headline"], "summary": row["summary"]} for row in report["summary"]}


def _columns(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One column per registered metric that some row has, in registration order."""
    present = {name for row in rows for name in row.get("metrics", {})}
    return [{"metric": m.name, "label": m.label, "better": m.better} for m in registered_metrics() if m.name in present]


def _number(entry: dict[str, Any] | None, sign: float = 1.0) -> float:
    """The headline number of a cell; a missing one sorts last whichever way the metric runs."""
    value = (entry or {}).get("headline")
    return float(value) if isinstance(value, (int, float)) and not math.isnan(value) else sign * math.inf


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _headings(board: dict[str, Any]) -> list[str]:
    return (["rank", "model"] + [column["label"] for column in board["columns"]]
            + ["steps", "real images seen", "train time", "samples"])


def _cells(board: dict[str, Any], rank: int, row: dict[str, Any], grid: str) -> list[str]:
    metrics = [column["metric"] for column in board["columns"]]
    if row.get("skipped"):
        return ["-", row["model"], f"skipped: {row['skipped']}"] + [""] * (len(metrics) - 1) + [str(row["steps"]), "", "", ""]
    critic = f" ({row['n_critic']} D batches per step)" if row["n_critic"] > 1 else ""
    values = [row["metrics"][name]["summary"] if name in row["metrics"] else "n/a" for name in metrics]
    time = _duration(row["train_seconds"])
    if row.get("fewest_cpu_threads"):
        time += f" (shared cores: at times {row['fewest_cpu_threads']} of {row['cpu_threads']} threads)"
    return [str(rank), row["model"], *values, str(row["steps"]), f"{row['real_images_seen']:,}{critic}", time, grid]


def _preamble(board: dict[str, Any]) -> list[str]:
    s, judge = board["samples"], board["judge"]
    if judge is None:
        judge_text = f"No judge: {board.get('judge_unavailable')}. "
    else:
        judge_text = (f"Judge: {judge['name']}, its own accuracy on {judge_split_name(board)} "
                      f"**{judge['test_accuracy']:.2%}** "
                      f"(sha256 {judge.get('sha256', '')[:16]}, {judge.get('source', 'trained on this machine')}); "
                      f"classifier-FID floor (real train vs real test): {board['classifier_fid_floor']:.2f}. ")
    return [
        f"Recipe **{board['recipe']}** ({board['dataset']}), the newest run of each model in `{board['runs_dir']}`. "
        f"Every model: {s['n_per_class']} generated images per class (unconditional models: the same total), "
        f"seed {s['seed']}, against {real_split_name(board.get('real_split'))}.",
        judge_text +
        f"Real images: {board['real_split']['images'] if 'real_split' in board else '?'}, sha256 "
        f"{board.get('real_split', {}).get('sha256', '?')}. "
        f"Lower FID is better; ranked by {board.get('ranked_by', {}).get('metric', 'classifier-fid')} "
        f"({board.get('ranked_by', {}).get('better', 'lower')} is better). "
        + ("Unconditional models have no per-class accuracy: a class is covered when the judge puts at least half "
           "its fair share of the samples in it; " if judge is not None else "")
        + "n/a: the metric does not apply to the model.",
    ]


def to_markdown(board: dict[str, Any]) -> str:
    lines = [f"# Leaderboard: {board['recipe']}", "", *_preamble(board), "",
             "| " + " | ".join(_headings(board)) + " |", "|" + " --- |" * len(_headings(board))]
    for rank, row in enumerate(board["rows"], 1):
        grid = f"![{row['model']}]({row['model']}.png)" if not row.get("skipped") else ""
        lines.append("| " + " | ".join(_cells(board, rank, row, grid)) + " |")
    lines += ["", f"Full reports: `MODEL/report.html` next to this file. Made {board['created']}.", ""]
    return "\n".join(lines)


def to_html(board: dict[str, Any], grids: dict[str, str]) -> str:
    """The table as one self-contained page; ``grids``: model -> base64 PNG sample grid."""
    e = html.escape
    body = []
    for rank, row in enumerate(board["rows"], 1):
        grid = ""
        if row["model"] in grids and not row.get("skipped"):
            grid = f'<img alt="{e(row["model"])} samples" src="data:image/png;base64,{grids[row["model"]]}">'
        cells = _cells(board, rank, row, "")
        cells[-1] = grid
        body.append("<tr>" + "".join(f"<td>{c if i == len(cells) - 1 else e(c)}</td>" for i, c in enumerate(cells)) + "</tr>")
    head = "".join(f"<th>{e(c)}</th>" for c in _headings(board))
    return "\n".join([
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>ganzoo leaderboard: {e(board['recipe'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}"
        "img{width:280px;image-rendering:pixelated}</style></head><body>",
        f"<h1>Leaderboard: {e(board['recipe'])}</h1>",
        *[f"<p>{e(p).replace('**', '')}</p>" for p in _preamble(board)],
        f"<table><tr>{head}</tr>{''.join(body)}</table>",
        f"<p>Full reports: MODEL/report.html next to this file. Made {e(board['created'])}.</p></body></html>",
    ])
