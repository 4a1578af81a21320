"""``ganzoo export --format hub``: a folder laid out as a Hugging Face Hub model
repository, ready for ``huggingface-cli upload`` (nothing is pushed from here).

    DIR/model.safetensors   the generator (the EMA weights where the run kept them)
    DIR/config.json         what rebuilds it: model, settings, class names, provenance
    DIR/samples.png         a grid, ten samples per class (seed 0)
    DIR/README.md           the model card: YAML front matter (library_name, tags,
                            datasets, license, the latest report's metrics as model-index)
                            and a body saying what it is, how to load it, how it was
                            trained and evaluated

``ganzoo sample MODEL --checkpoint DIR`` and ``ganzoo.api.load(DIR)`` read it back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml

from ..artifacts import HUB_CONFIG, HUB_WEIGHTS, rebuild_config, write_weights
from ..errors import UsageError
from ..files import REPORT_LIMIT, check_room_for, folder_replaced_atomically, read_limited
from ..generation import generate
from ..grids import save_png
from ..splits import real_split_name
from .folder import RunFolder

CARD, SAMPLES = "README.md", "samples.png"
# the Hub's dataset ids for the built-in data sets
HUB_DATASETS = {"mnist": "mnist", "fashion-mnist": "fashion_mnist", "cifar10": "cifar10"}


def export_hub(generator: torch.nn.Module, config: dict[str, Any], model: str, out: Path, *, force: bool,
               license_id: str = "mit") -> Path:
    if out.exists() and not (force and out.is_dir()):
        raise UsageError(f"{out} already exists; choose another --out or pass --force to replace the folder")
    if out.suffix:
        raise UsageError(f"--format hub writes a folder: give --out a name without a suffix, got {out}")
    check_room_for(out)
    rebuild = rebuild_config(config, model)
    report = latest_report(config.get("exported_from"))
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with folder_replaced_atomically(out) as tmp:
            write_weights(generator, rebuild, tmp / HUB_WEIGHTS)
            (tmp / HUB_CONFIG).write_text(json.dumps(rebuild, indent=2) + "\n", encoding="utf-8")
            _write_samples(generator, len(rebuild["class_names"]), tmp / SAMPLES)
            card = model_card(rebuild, report, license_id, bool(getattr(generator, "conditional", False)))
            (tmp / CARD).write_text(card, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def latest_report(checkpoint: str | None) -> dict[str, Any] | None:
    """The newest evaluation report of the run the checkpoint belongs to, if any."""
    run = RunFolder.of_checkpoint(Path(checkpoint)) if checkpoint else None
    if run is None:
        return None
    reports = sorted(run.reports.glob("*/report.json"))
    for path in reversed(reports):
        try:
            return json.loads(read_limited(path, REPORT_LIMIT, "report"))
        except (OSError, ValueError):
            continue
    return None


def _write_samples(generator: torch.nn.Module, num_classes: int, path: Path) -> None:
    conditional = getattr(generator, "conditional", False)
    labels = torch.arange(num_classes).repeat_interleave(10) if conditional else torch.zeros(100, dtype=torch.long)
    images = generate(generator, labels, seed=0, device=torch.device("cpu"))
    save_png(images, path, nrow=10, padding=2, format="PNG")


def front_matter(rebuild: dict[str, Any], report: dict[str, Any] | None, license_id: str,
                 conditional: bool) -> dict[str, Any]:
    settings, model = rebuild["settings"], rebuild["model"]
    meta: dict[str, Any] = {
        "library_name": "ganzoo",
        "license": license_id,
        "tags": ["ganzoo", "gan", "pytorch", "image-generation", model,
                 "class-conditional" if conditional else "unconditional"],
        "datasets": [HUB_DATASETS.get(settings.get("dataset"), settings.get("dataset"))],
    }
    if not conditional:
        meta["pipeline_tag"] = "unconditional-image-generation"
    if report and report.get("summary"):
        metrics = [{"type": row["metric"], "name": row["label"], "value": round(float(row["headline"]), 4)}
                   for row in report["summary"] if isinstance(row.get("headline"), (int, float))]
        meta["model-index"] = [{
            "name": model,
            "results": [{
                "task": {"type": "image-generation", "name": "image generation"},
                "dataset": {"type": meta["datasets"][0], "name": settings.get("dataset"),
                            "split": report.get("real_split", {}).get("split", "test")},
                "metrics": metrics,
            }],
        }]
    return meta


def model_card(rebuild: dict[str, Any], report: dict[str, Any] | None, license_id: str, conditional: bool) -> str:
    meta = front_matter(rebuild, report, license_id, conditional)
    model, settings = rebuild["model"], rebuild["settings"]
    weights = "the exponential moving average of G" if rebuild.get("weights") == "ema" else "G's own weights"
    lines = [
        "---", yaml.safe_dump(meta, sort_keys=False).rstrip(), "---", "",
        f"# {model} on {settings.get('dataset')} (ganzoo)", "",
        f"A `{model}` generator trained with [ganzoo](https://github.com/ganzoo/ganzoo) {rebuild['ganzoo_version']} "
        f"on {settings.get('dataset')}, {rebuild.get('step')} steps of batch {settings.get('batch_size')} "
        f"(recipe `{rebuild.get('recipe')}`); the weights are {weights}.", "",
        f"![ten samples per class]({SAMPLES})", "",
        "## Use it", "",
        "```bash",
        f"pip install ganzoo ganzoo-{model}   # the model's plugin",
        f"ganzoo sample {model} --checkpoint THIS_FOLDER --class all --n 10",
        "```", "",
        "```python",
        "import ganzoo.api as gz",
        "generator = gz.load(\"THIS_FOLDER\")",
        "images = generator.sample(0, n=16, seed=0)   # uint8 (16, C, H, W)",
        "```", "",
        "## Training", "",
        "| setting | value |", "| --- | --- |",
        *[f"| `{key}` | `{settings[key]}` |" for key in sorted(settings) if settings[key] is not None],
        "",
    ]
    data = rebuild.get("data") or {}
    if data.get("train"):
        train = data["train"]
        lines += [f"Training data: {train.get('dataset')}, {train.get('images')} images, sha256 "
                  f"{train.get('sha256')}.", ""]
    lines += ["## Evaluation", ""]
    if report is None:
        lines += ["Not evaluated yet (`ganzoo evaluate` on the run, then export again).", ""]
    else:
        judge, samples, split = report.get("judge") or {}, report.get("samples", {}), report.get("real_split", {})
        lines += [
            f"By ganzoo {report.get('ganzoo_version')}'s evaluator at step {report.get('step')}: "
            f"{samples.get('n_per_class')} generated images per class (noise seed {samples.get('seed')}) against "
            f"{real_split_name(split)}: {split.get('images')} images, sha256 {split.get('sha256')}; "
            + (f"no judge ({report.get('judge_unavailable')})." if not judge else
               f"judge {judge.get('name')} (test accuracy {judge.get('test_accuracy')}"
               + (f", sha256 {judge['sha256']}, {judge.get('source')}" if judge.get("sha256") else "") + ")."), "",
            "| metric | value |", "| --- | --- |",
            *[f"| {row['label']} | {row['summary']} |" for row in report.get("summary", [])], "",
        ]
    lines += ["## License", "", f"The weights: `{license_id}` (set with `ganzoo export --license`). The training "
              "data keeps its own license.", ""]
    return "\n".join(lines)
