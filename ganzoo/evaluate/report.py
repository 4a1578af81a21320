"""Evaluation reports: ``report.json`` (every number), ``report.md`` and a self-contained
``report.html`` (figures embedded as data: URIs, no external files)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..files import new_folder_whole, write_text_atomic
from ..grids import tile, to_pil
from ..plots import loss_curves, pyplot
from ..splits import HELD_OUT_SPLIT, real_split_name


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    pyplot().close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def sample_grid_png(images: torch.Tensor, rows: int, columns: int = 10) -> str:
    """uint8 images ordered row by row -> a PNG grid, base64."""
    picture = to_pil(tile(images[: rows * columns], nrow=columns, padding=2, pad_value=255))
    buffer = io.BytesIO()
    picture = picture.resize((picture.width * 2, picture.height * 2), Image.NEAREST)
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def confusion_png(confusion: list[list[int]], class_names: list[str]) -> str:
    plt = pyplot()
    matrix = torch.tensor(confusion, dtype=torch.float64)
    rates = matrix / matrix.sum(1, keepdim=True).clamp(min=1)
    size = max(4.5, 0.5 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(class_names)), class_names, fontsize=8)
    ax.set_xlabel("class the judge sees")
    ax.set_ylabel("class asked for")
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            if rates[i, j] >= 0.01:
                ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title("Confusion matrix (row-normalised)")
    fig.tight_layout()
    return _png(fig)


def loss_curve_png(records: list[dict[str, Any]]) -> str | None:
    """The training losses (and the classifier FID of ``eval_every``, when logged), base64."""
    losses = [r for r in records if "d_loss" in r]
    evals = [r for r in records if isinstance(r.get("eval"), dict)]
    if not losses:
        return None
    plt = pyplot()
    panels = 2 if evals else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 3.8), squeeze=False)
    loss_curves(axes[0][0], losses)
    axes[0][0].set_title("Losses")
    if evals:
        ax = axes[0][1]
        ax.plot([r["step"] for r in evals], [r["eval"]["classifier_fid"] for r in evals], marker="o")
        ax.set_xlabel("step")
        ax.set_title("Classifier FID during training (eval_every)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def fid_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, value, feature extractor, compared sets) for the FID table."""
    m = report["metrics"]
    rows = []
    if "classifier_fid" in m:
        c = m["classifier_fid"]
        rows.append(("Classifier FID", _fmt(c["value"], 2), c["feature_extractor"], c["sets"]))
        if c.get("floor") is not None:
            rows.append(("Classifier FID floor", _fmt(c["floor"], 2), c["feature_extractor"], "real train vs real test"))
    if "intra_class_fid" in m:
        i = m["intra_class_fid"]
        rows.append(("Intra-class FID (mean)", _fmt(i["mean"], 2), i["feature_extractor"],
                     f"per class, generated vs {real_split_name(report.get('real_split'))}"))
    if "inception_fid" in m:
        f = m["inception_fid"]
        value = _fmt(f["value"], 2) if f["status"] == "ok" else f"unavailable: {f['reason']}"
        rows.append(("Inception FID", value, f["feature_extractor"], f.get("sets", "")))
    return rows


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, value, better, what it measures) for every metric of the report."""
    return [(row["label"], row["summary"], f"{row['better']} is better", row["description"])
            for row in report.get("summary", [])]


def judge_split_name(report: dict[str, Any]) -> str:
    """Where the judge's own accuracy was measured, in words: its test images, whatever the
    metrics compared against (reports before ganzoo 0.5.7 compared against those always)."""
    tested_on = (report.get("judge") or {}).get("tested_on")
    return real_split_name({"split": tested_on} if tested_on else report.get("real_split"))


def _split(report: dict[str, Any]) -> str:
    split = report.get("real_split")
    if not split:
        return f"{report.get('data_dir')}"
    shape = "x".join(str(d) for d in split.get("shape", []))
    where = (f"every 10th image of each class in {report.get('data_dir')} (no test split: the generator trained on "
             "them, the judge did not)" if split.get("split") == HELD_OUT_SPLIT
             else f"the training split in {report.get('data_dir')} (which the judge learnt from too)"
             if split.get("split") == "train"
             else f"the {split.get('split', 'test')} split in {report.get('data_dir')}")
    return f"{where}: {split.get('images')} images {shape}, sha256 {split.get('sha256')}"


def judge_name(report: dict[str, Any]) -> str:
    """The judge with its hash and where it came from (pinned or trained here)."""
    judge = report["judge"]
    if judge is None:
        return "none"
    details = ", ".join(part for part in (f"sha256 {judge['sha256'][:16]}" if judge.get("sha256") else "",
                                          judge.get("source", "")) if part)
    return f"{judge['name']} ({details})" if details else judge["name"]


def title(report: dict[str, Any]) -> str:
    """What was evaluated, in a few words: a model's run and step, or an image set."""
    images = report.get("images")
    if images:
        return f"images {Path(images['path']).name}"
    return f"{report['model']} ({report['recipe']}, step {report['step']})"


def source(report: dict[str, Any]) -> str:
    images = report.get("images")
    if images:
        kind = (f"labelled by {images['labels_from']}" if images.get("labels_from")
                else "labelled" if images["labelled"] else "unlabelled")
        return f"images {images['path']} ({images['form']}, {kind}, sha256 {images['sha256'][:16]})"
    return f"checkpoint {report['checkpoint']} ({report.get('generator_weights', 'generator')} weights)"


def classes(report: dict[str, Any]) -> str:
    n = len(report["class_names"])
    return "1 class" if n == 1 else f"{n} classes"


def generated(report: dict[str, Any]) -> str:
    samples = report["samples"]
    per = samples["n_per_class"]
    if isinstance(per, int):
        counts = f"{per} per class"
    else:
        counts = "per class: " + ", ".join(str(n) for n in per) if per else "no labels"
    seed = f", seed {samples['seed']}" if samples.get("seed") is not None else ""
    return f"{samples['n_total']} images ({counts}){seed}"


def to_markdown(report: dict[str, Any]) -> str:
    r, m = report, report["metrics"]
    lines = [
        f"# Evaluation of {title(r)}",
        "",
        f"- {source(r)}",
        f"- dataset: {r['dataset']} ({classes(r)}); generated: {generated(r)}",
        f"- judge: none ({r.get('judge_unavailable')})" if r["judge"] is None else
        f"- judge: {judge_name(r)}, its own accuracy on {judge_split_name(r)}: "
        f"**{r['judge']['test_accuracy']:.2%}**",
        f"- device: {r['device']}; wall time {r['wall_time_s']:.1f} s; ganzoo {r['ganzoo_version']}",
        f"- real images: {_split(r)}",
        *[f"- **warning:** {w}" for w in r.get("warnings", [])],
        "",
        "## Metrics",
        "",
        "| metric | value | direction | what it measures |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary_rows(report)]
    lines += [
        "",
        "## Fréchet distances (lower is better)",
        "",
        "| metric | value | feature extractor | compared |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in fid_rows(report)]
    if "accuracy" in m:
        acc = m["accuracy"]
        lines += ["", "## Per-class accuracy (the judge sees the class asked for)", "",
                  f"mean **{acc['mean']:.2%}**, minimum {acc['min']:.2%}", "",
                  "| class | accuracy | intra-class FID |", "| --- | --- | --- |"]
        intra = m.get("intra_class_fid", {}).get("per_class")
        for k, name in enumerate(r["class_names"]):
            lines.append(f"| {name} | {acc['per_class'][k]:.2%} | {_fmt(intra[k], 2) if intra else '-'} |")
    if "class_distribution" in m:
        lines += ["", "## Class distribution of the samples (unconditional model)", "",
                  "| class | share |", "| --- | --- |"]
        lines += [f"| {name} | {share:.2%} |" for name, share in zip(r["class_names"], m["class_distribution"]["per_class"])]
    lines += ["", "Packages: " + ", ".join(f"{k} {v}" for k, v in r["packages"].items()), ""]
    return "\n".join(lines)


def to_html(report: dict[str, Any], figures: dict[str, str | None]) -> str:
    r, m = report, report["metrics"]
    e = html.escape

    def img(key: str, alt: str) -> str:
        data = figures.get(key)
        return f'<img alt="{e(alt)}" src="data:image/png;base64,{data}">' if data else ""

    def table(rows: list[tuple[str, ...]]) -> str:
        return "".join("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>ganzoo evaluation: {e(title(r))}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}"
        "th{background:#f3f3f3}img{max-width:100%;image-rendering:pixelated}.note{color:#555}"
        ".warning{background:#fff3cd;padding:6px 10px}</style></head><body>",
        f"<h1>Evaluation of {e(title(r))}</h1>",
        f"<p class='note'>{e(source(r))}<br>dataset {e(r['dataset'])}, generated: {e(generated(r))}"
        f"<br>device {e(r['device'])}, wall time {r['wall_time_s']:.1f} s, ganzoo {e(r['ganzoo_version'])}"
        f"<br>real images: {e(_split(r))}</p>",
        *[f"<p class='warning'><b>Warning:</b> {e(w)}</p>" for w in r.get("warnings", [])],
        f"<p><b>Judge:</b> none ({e(r.get('judge_unavailable') or '')}).</p>" if r["judge"] is None else
        f"<p><b>Judge:</b> {e(judge_name(r))}; its accuracy on {e(judge_split_name(r))} is "
        f"<b>{r['judge']['test_accuracy']:.2%}</b> (a per-class accuracy can be no more reliable than this).</p>",
        "<h2>Samples (one row per class)</h2>", img("samples", "sample grid"),
        *(["<h2>A walk through the latent space</h2><p class='note'>from the noise of seed 0 to seed 1 to "
            "seed 2 along great circles (<code>ganzoo interpolate --seeds 0,1,2 --steps 5</code>), one row per "
            "class</p>", img("interpolation", "latent interpolation")] if figures.get("interpolation") else []),
        "<h2>Metrics</h2>",
        "<table><tr><th>metric</th><th>value</th><th>direction</th><th>what it measures</th></tr>"
        f"{table(summary_rows(r))}</table>",
        "<h2>Fréchet distances (lower is better)</h2>",
        "<table><tr><th>metric</th><th>value</th><th>feature extractor</th><th>compared</th></tr>"
        f"{table(fid_rows(r))}</table>",
    ]
    if "accuracy" in m:
        acc = m["accuracy"]
        intra = m.get("intra_class_fid", {}).get("per_class")
        per_class = [(name, f"{acc['per_class'][k]:.2%}", _fmt(intra[k], 2) if intra else "-")
                     for k, name in enumerate(r["class_names"])]
        parts += [
            "<h2>Per-class accuracy</h2>",
            f"<p>mean <b>{acc['mean']:.2%}</b>, minimum {acc['min']:.2%}</p>",
            f"<table><tr><th>class</th><th>accuracy</th><th>intra-class FID</th></tr>{table(per_class)}</table>",
            img("confusion", "confusion matrix"),
        ]
    if "class_distribution" in m:
        shares = [(n, f"{s:.2%}") for n, s in zip(r["class_names"], m["class_distribution"]["per_class"])]
        parts += ["<h2>Class distribution of the samples</h2>",
                  f"<table><tr><th>class</th><th>share</th></tr>{table(shares)}</table>"]
    if figures.get("losses"):
        parts += ["<h2>Training curves</h2>", img("losses", "loss curves")]
    parts += [f"<p class='note'>Packages: {e(', '.join(f'{k} {v}' for k, v in r['packages'].items()))}</p>", "</body></html>"]
    return "\n".join(parts)


def write_report(folder: Path, report: dict[str, Any], figures: dict[str, str | None]) -> list[Path]:
    """report.json, report.md and report.html in ``folder``: a new folder appears whole or
    not at all; in an existing one each file is replaced atomically."""
    files = {
        "report.json": json.dumps(report, indent=2, allow_nan=True),
        "report.md": to_markdown(report),
        "report.html": to_html(report, figures),
    }
    with new_folder_whole(folder) as into:
        for name, text in files.items():
            write_text_atomic(into / name, text)
    return [folder / name for name in files]
