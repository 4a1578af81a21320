"""The zoo's leaderboard at equal budgets: every model, every recipe, several seeds.

    .venv/bin/python tests/bench/zoo_leaderboard.py \\
        --data mnist=../shared/datasets/mnist-5k --data fashion-mnist=../shared/datasets/fashion-mnist@5000 \\
        --steps 3000 --seeds 0,1 --out docs/leaderboard.md

Each (recipe, model, seed) trains with ``ganzoo train MODEL --recipe RECIPE --set
max_steps=STEPS --set seed=SEED`` (the model's defaults and tunings otherwise: the same
steps, batch and real images seen for every model with one D update per step; a model
with ``n_critic`` k sees k times the real images, stated in its row), then ``ganzoo
evaluate`` scores its newest checkpoint with the same judge, N and noise seed. Runs live
under ``--runs-dir`` (default ``zoo-runs/``); a run whose report already exists is reused,
so the grid can be filled over several sittings (``--seeds`` and ``--models`` pick a
part). Runs checkpoint every 500 steps; a run stopped short of its budget (SIGTERM or
Ctrl-C checkpoints too) is resumed exactly (``ganzoo train --resume``) by the next call
that needs it, its training time summed over the pieces. The markdown table gives mean
and range over the seeds, the wall time and the machine, and every number's provenance.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ganzoo(*args: str) -> None:
    done = subprocess.run([str(BIN / "ganzoo"), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ganzoo {' '.join(args)}: {done.stderr.strip()}")


def newest_report(runs: Path) -> tuple[Path, dict] | tuple[None, None]:
    """The run folder and the report of the newest evaluation under ``runs``."""
    reports = sorted(runs.glob("*/reports/*/report.json"), key=lambda path: path.stat().st_mtime)
    if not reports:
        return None, None
    return reports[-1].parents[2], json.loads(reports[-1].read_text(encoding="utf-8"))


def trained_run(runs: Path, steps: int) -> Path | None:
    """The newest run under ``runs`` with a checkpoint at the budget."""
    done = sorted(runs.glob(f"*/checkpoints/step_{steps:07d}.pt"), key=lambda path: path.stat().st_mtime)
    return done[-1].parents[1] if done else None


def unfinished_run(runs: Path, steps: int) -> Path | None:
    """The newest run under ``runs`` with a checkpoint short of the budget and none at it
    (exact resume carries on from there; its training time adds up across the pieces)."""
    started = sorted((path.parents[1] for path in runs.glob("*/checkpoints/last.pt")
                      if not (path.parent / f"step_{steps:07d}.pt").exists()),
                     key=lambda run: run.stat().st_mtime)
    return started[-1] if started else None


def training_seconds(run: Path) -> float | None:
    """The training's own wall time (start-up and evaluation not counted): the last
    ``elapsed_s`` in metrics.jsonl."""
    elapsed = None
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        elapsed = json.loads(line).get("elapsed_s", elapsed)
    return elapsed


def has_run(recipe: str, model: str, seed: int, args) -> bool:
    return trained_run(Path(args.runs_dir) / recipe / model / f"seed-{seed}", args.steps) is not None


def _current(report: dict | None, args) -> bool:
    """A report of this budget and N, made by an evaluator that names its judge by
    sha256 (ganzoo 0.4+, pinned judges); an older one is made again."""
    return (report is not None and report["step"] == args.steps and report["samples"]["n_per_class"] == args.n
            and bool(report["judge"].get("sha256")))


def run_one(recipe: str, data_dir: str, model: str, seed: int, args) -> dict:
    runs = Path(args.runs_dir) / recipe / model / f"seed-{seed}"
    run = trained_run(runs, args.steps)
    unfinished = unfinished_run(runs, args.steps) if run is None else None
    if unfinished is not None:  # stopped (SIGTERM/SIGINT checkpoint) or killed after a checkpoint: go on
        print(f"{recipe} {model} seed {seed}: resuming {unfinished.name}", file=sys.stderr, flush=True)
        ganzoo("train", model, "--resume", str(unfinished), "-q")
        run = trained_run(runs, args.steps)
    elif run is None:
        print(f"{recipe} {model} seed {seed}: training {args.steps} steps", file=sys.stderr, flush=True)
        ganzoo("train", model, "--recipe", recipe, "--data-dir", data_dir, "--runs-dir", str(runs), "-q",
               "--set", f"max_steps={args.steps}", "--set", f"seed={seed}",
               "--set", f"checkpoint_every={min(args.steps, 500)}",  # a long run can be stopped and resumed
               "--set", "epochs=100000")  # so that max_steps is the budget, whatever the recipe's epochs
        run = trained_run(runs, args.steps)
    report_run, report = newest_report(runs)
    if report_run != run or not _current(report, args):
        print(f"{recipe} {model} seed {seed}: evaluating", file=sys.stderr, flush=True)
        ganzoo("evaluate", model, "--run", str(run), "--data-dir", data_dir, "-q", "--n", str(args.n),
               "--metrics", args.metrics)
        report_run, report = newest_report(runs)
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    return {"report": report, "train_s": training_seconds(run), "settings": config["settings"],
            "threads": config.get("speed", {}).get("cpu_threads")}


def _spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _threads(results: list[dict]) -> str:
    """The CPU threads the runs trained with (recorded since ganzoo 0.4.1)."""
    known = sorted({r["threads"] for r in results if r["threads"]})
    unrecorded = sum(1 for r in results if not r["threads"])
    if not known:
        return ""
    threads = f"{'-'.join(str(t) for t in known)} thread{'s' if known != [1] else ''}"
    return f" ({threads}" + (f"; {unrecorded} run{'s' if unrecorded > 1 else ''} before ganzoo recorded it)"
                             if unrecorded else ")")


def tuned(model: str, recipe: str, settings: dict) -> str:
    """The settings the model's tuning of the recipe sets (but the epochs, which the budget
    replaces), with the values the run trained with."""
    from ganzoo.plugins import get_host
    from ganzoo.recipes import load_tuning

    source = get_host().tuning(model, recipe)
    keys = [key for key in (load_tuning(source) if source else {}) if key != "epochs"]
    return ", ".join(f"{key} {settings[key]}" for key in keys)


def row(model: str, recipe: str, results: list[dict]) -> tuple[float, str]:
    reports = [r["report"] for r in results]
    metric = lambda key, field: [r["metrics"][key][field] for r in reports if key in r["metrics"]]  # noqa: E731
    fid = metric("classifier_fid", "value")
    intra = metric("intra_class_fid", "mean")
    accuracy = metric("accuracy", "mean")
    worst = metric("accuracy", "min")
    covered = metric("class_distribution", "classes_covered")
    inception = [r["metrics"]["inception_fid"]["value"] for r in reports
                 if r["metrics"].get("inception_fid", {}).get("status") == "ok"]
    seconds = [r["train_s"] for r in results if r["train_s"] is not None]
    classes = (f"{_spread([100 * a for a in accuracy], '{:.1f}')}% / {_spread([100 * w for w in worst], '{:.1f}')}%"
               if accuracy else f"{_spread(covered, '{:.1f}')} of {len(reports[0]['class_names'])} covered")
    n_critic = results[0]["settings"]["n_critic"]
    tuning = tuned(model, recipe, results[0]["settings"])
    notes = [f"{n_critic} D updates per step"] * (n_critic > 1) + [f"tuned: {tuning}"] * bool(tuning)
    name = f"`{model}`" + (f" ({'; '.join(notes)})" if notes else "")
    cells = [name, str(len(reports)), _spread(fid, "{:.2f}"), _spread(intra, "{:.2f}") if intra else "-",
             classes, _spread(inception, "{:.1f}") if inception else "no weights offline",
             _spread([s / 60 for s in seconds], "{:.1f}") + " min" + _threads(results) if seconds else "-"]
    return statistics.mean(fid), "| " + " | ".join(cells) + " |"


def table(recipe: str, by_model: dict[str, list[dict]], args) -> list[str]:
    report = next(iter(by_model.values()))[0]["report"]
    judge = report["judge"]
    versions = sorted({r["report"]["ganzoo_version"] for results in by_model.values() for r in results})
    lines = [
        f"## {recipe} ({report['data_dir']})", "",
        f"{args.steps} steps of batch 64 per model (seeds in the second column); each model's defaults and tuning "
        f"otherwise. "
        f"Provenance: ganzoo {' and '.join(versions)} evaluator, judge {judge['name']} "
        f"({judge.get('source', 'trained on this machine')}, sha256 {judge.get('sha256', '?')[:16]}, "
        f"test accuracy {judge['test_accuracy']:.4f}), {report['samples']['n_per_class']} generated images per class "
        f"vs the real {report['real_split']['split']} split ({report['real_split']['images']} images, "
        f"sha256 {report['real_split']['sha256']}), noise seed {report['samples']['seed']}; "
        f"machine {cpu_name()}, {os.cpu_count()} CPUs ({report['device']}).", "",
        "| model | seeds | classifier FID | intra-class FID | accuracy mean / worst class (or classes covered) "
        "| Inception FID | training time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = sorted(row(model, recipe, results) for model, results in by_model.items())
    missing = [model for model in args.models.split(",") if model not in by_model]
    tail = [f"Not measured yet at this budget: {', '.join(f'`{m}`' for m in missing)} (run the command above "
            "without --existing-only to train them).", ""] if missing else []
    return lines + [line for _, line in rows] + [""] + tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", required=True, metavar="RECIPE=DIR[@STEPS]",
                        help="a recipe and the data folder it trains on, optionally its own step budget "
                        "(repeat for each recipe)")
    parser.add_argument("--models", default="acgan,cgan,dcgan,reacgan,sngan,tacgan,wgan-gp")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--n", type=int, default=300, help="generated images per class")
    parser.add_argument("--runs-dir", default="zoo-runs")
    parser.add_argument("--metrics", default="classifier-fid,intra-fid,accuracy,class-distribution,kid,"
                        "precision-recall,inception-fid",
                        help="what ganzoo evaluate computes (CAS, minutes per run, is left to the reports)")
    parser.add_argument("--out", help="write the markdown here as well as to stdout")
    parser.add_argument("--existing-only", action="store_true",
                        help="train nothing: tabulate the runs already there (each model with the seeds it has)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    out = ["# The zoo's leaderboard", "",
           f"Made by `{' '.join(['python', 'tests/bench/zoo_leaderboard.py', *sys.argv[1:]])}` on "
           f"{time.strftime('%Y-%m-%d')}. Mean over the seeds, range in brackets; sorted by classifier FID.", "",
           "Equal budgets: every model trains the same number of steps at batch 64 from its own defaults and its "
           "tuning of the recipe (the epochs lifted so that the step count is the budget), so every model sees the "
           "same number of generated batches and, with one D update per step, the same real images; a model with "
           "k D updates per step sees k times the real images, and its row says so; a row also names the "
           "settings its model's tuning of the recipe changes. Each run is evaluated by "
           "ganzoo's evaluator alike (the same judge, N and noise seed). Classifier and intra-class FID are "
           "Fréchet distances in the judge's 128-d feature space against the real test split; accuracy is how "
           "often the judge sees the class a sample was conditioned on (mean over classes / the worst class); "
           "for unconditional models, how many classes get at least half their fair share of the samples. "
           "Training time is the training's own wall time on this machine (from metrics.jsonl), at times with "
           "other work sharing its two cores, with the CPU threads the runs had where they recorded them (one "
           "thread is about 1.5x slower than two here): docs/performance.md has clean per-step figures.", ""]
    default_steps = args.steps
    for pair in args.data:
        recipe, _, data_dir = pair.partition("=")
        data_dir, _, steps = data_dir.partition("@")  # DIR@STEPS: this recipe's own budget
        args.steps = int(steps) if steps else default_steps
        results = {}
        for model in args.models.split(","):
            chosen = [seed for seed in seeds if not args.existing_only or has_run(recipe, model, seed, args)]
            if chosen:
                results[model] = [run_one(recipe, data_dir, model, seed, args) for seed in chosen]
        out += table(recipe, results, args)
    text = "\n".join(out)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
