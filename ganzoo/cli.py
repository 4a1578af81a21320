"""The ``ganzoo`` command line: its commands, and the start that launches torchrun.

With ``boundary.py`` it is the only place where errors become exit codes: every command
is wrapped in :func:`~ganzoo.boundary.at_boundary`; click's own errors and the
interrupts between commands are turned into one line here, in :func:`main`.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import __version__
from .boundary import OutputError, Terminated, at_boundary, guard_stdout, output_failed, raise_terminated, say_error
from .errors import UsageError
from .seeds import MAX_SEED, check_seed

app = typer.Typer(
    name="ganzoo",
    help="A plugin-based GAN zoo: train, sample and inspect GANs from YAML recipes.",
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ganzoo {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """A plugin-based GAN zoo: train, sample and inspect GANs from YAML recipes."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", envvar="GANZOO_DATA_DIR", help="Dataset root (default: ~/.cache/ganzoo/data)."),
]
RunsDir = Annotated[
    Optional[Path], typer.Option("--runs-dir", envvar="GANZOO_RUNS_DIR", help="Runs folder (default: ./runs).")
]
Device = Annotated[
    str, typer.Option("--device", envvar="GANZOO_DEVICE", help="auto, cpu, cuda or cuda:N.")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text, for scripts.")]


def _print_json(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, indent=2, default=str))


@app.command()
@at_boundary
def train(
    model: Annotated[str, typer.Argument(help="Registered model name (see 'ganzoo models').")],
    recipe: Annotated[
        Optional[str],
        typer.Option("--recipe", "-r", help="Recipe name or path to a YAML file.  [default: mnist]"),
    ] = None,
    data_dir: DataDir = None,
    runs_dir: RunsDir = None,
    device: Device = "auto",
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", "-s", help="Override a setting: key=value (repeatable).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    logger: Annotated[
        Optional[str],
        typer.Option("--logger", help="Also log to 'tensorboard' or 'wandb' (their extras: pip install "
                     "'ganzoo[tensorboard]', 'ganzoo[wandb]'), or both: tensorboard,wandb; the same as --set logger=..."),
    ] = None,
    resume: Annotated[
        Optional[str],
        typer.Option(
            "--resume",
            metavar="[RUN_DIR]",
            help="Continue RUN_DIR from its last checkpoint, in its own folder; alone: the newest run of MODEL; "
            "RUN_DIR/checkpoints/step_N.pt: go back to that step (what came after is set aside in "
            "RUN_DIR/set-aside/). Only budgets, intervals and speed switches may change (--set max_steps=N).",
        ),
    ] = None,
    allow_other_data: Annotated[
        bool,
        typer.Option("--allow-other-data", help="With --resume: continue on data whose fingerprint differs from the "
                     "data the run was trained on (the run's config records it)."),
    ] = False,
    nproc_per_node: Annotated[
        Optional[str],
        typer.Option(
            "--nproc-per-node",
            help="Train with N processes on this machine: a shortcut that starts "
            "'torchrun --standalone --nproc-per-node N -m ganzoo train ...' (see docs/distributed.md).",
        ),
    ] = None,
) -> None:
    """Train MODEL on a recipe in a new run folder, or --resume a run."""
    from .ranks import process_rank
    from .train.session import resume_run, train_run

    overrides = list(set_ or []) + ([f"logger={logger}"] if logger is not None else [])
    common = dict(overrides=overrides, data_dir=data_dir, runs_dir=runs_dir, device=device, progress=not quiet)
    if resume is not None:
        if recipe is not None:
            raise UsageError("--recipe does not go with --resume: a resumed run keeps the recipe it was trained "
                             "with; --set may change its budget, intervals and speed settings")
        run = None if resume == NEWEST_RUN and not Path(resume).is_dir() else Path(resume)
        run_dir = resume_run(model, run, allow_other_data=allow_other_data, **common)
    else:
        if allow_other_data:
            raise UsageError("--allow-other-data goes with --resume: a new run records the data it trains on")
        run_dir = train_run(model, recipe or "mnist", **common)
    if process_rank() == 0:
        typer.echo(f"run folder: {run_dir}")


@app.command()
@at_boundary
def sample(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    class_: Annotated[
        Optional[str],
        typer.Option("--class", "-c", help="Class index, class name, or 'all' (one row per class; the default). "
                     "Unconditional models take no --class."),
    ] = None,
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="Images (per class with 'all').")] = 10,
    run: Annotated[Optional[Path], typer.Option("--run", help="Run folder (default: the newest run of MODEL).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="A checkpoint file instead of a run.")] = None,
    runs_dir: RunsDir = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Noise seed.")] = 0,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help=".png/.jpg grid, .npz arrays, or a folder (no suffix).")
    ] = None,
    device: Device = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    truncation: Annotated[
        Optional[float],
        typer.Option("--truncation", metavar="PSI", help="Truncation trick: noise pulled toward its mean, "
                     "PSI * z (1: unchanged; smaller: more typical, less varied images; 0: the mean latent's image)."),
    ] = None,
) -> None:
    """Generate images of one class (or every class) from a trained run."""
    from .sample import sample_to_file

    path, weights = sample_to_file(
        model, class_, n=n, run=run, checkpoint=checkpoint, runs_dir=runs_dir, seed=seed, out=out, device=device,
        force=force, progress=not quiet, truncation=truncation,
    )
    typer.echo(f"samples: {path}" + (" (the EMA generator's weights)" if weights == "ema" else ""))


@app.command()
@at_boundary
def interpolate(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated noise seeds to walk between.")] = "0,1",
    steps: Annotated[int, typer.Option("--steps", min=2, help="Frames from one seed to the next.")] = 8,
    mode: Annotated[str, typer.Option("--mode", help="linear or spherical (keeps the noise's length).")] = "spherical",
    class_: Annotated[
        Optional[str], typer.Option("--class", "-c", help="One class (default: a row per class).")
    ] = None,
    across_classes: Annotated[
        bool, typer.Option("--across-classes", help="One noise (the first seed), every class in turn.")
    ] = False,
    truncation: Annotated[Optional[float], typer.Option("--truncation", metavar="PSI", help="Truncation trick.")] = None,
    run: Annotated[Optional[Path], typer.Option("--run", help="Run folder (default: the newest run of MODEL).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="A checkpoint file instead of a run.")] = None,
    runs_dir: RunsDir = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="The strip's .png (the GIF goes beside it, .gif).")
    ] = None,
    device: Device = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
) -> None:
    """Walk the latent space between seeds (or across classes): a PNG strip and an animated GIF."""
    if across_classes and class_ is not None:
        raise UsageError("--across-classes walks through every class: leave out --class")
    from .interpolate import interpolation_grid, write_strip_and_gif
    from .sample import default_output, find_checkpoint, load_generator
    from .runs.folder import runs_dir as default_runs_dir
    from .device import resolve_device

    try:
        seed_list = [check_seed(int(part), "each of --seeds") for part in seeds.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--seeds takes whole numbers separated by commas, got {seeds!r}") from None
    torch_device = resolve_device(device)
    path = find_checkpoint(model, run, checkpoint, default_runs_dir(runs_dir))
    generator, config = load_generator(path, model, torch_device)
    label = "classes" if across_classes else "seeds-" + "-".join(map(str, seed_list))
    png = out if out is not None else default_output(path, f"interpolation-{label}", seed_list[0] if seed_list else 0)
    if png.suffix.lower() != ".png":
        raise UsageError(f"--out must name a .png file (the GIF goes beside it), got {png}")
    gif = png.with_suffix(".gif")
    for target in (png, gif):
        if target.exists() and not force:
            raise UsageError(f"{target} already exists; choose another --out or pass --force to overwrite it")
    grid = interpolation_grid(generator, list(config["class_names"]), seeds=seed_list, steps=steps, mode=mode,
                              class_spec=class_, across_classes=across_classes, device=torch_device,
                              truncation=truncation)
    png.parent.mkdir(parents=True, exist_ok=True)
    write_strip_and_gif(grid, png, gif)
    typer.echo(f"interpolation: {png} and {gif}")


RealSplit = Annotated[
    str, typer.Option("--real-split", metavar="test|train",
                      help="The real images every metric compares against: the test split (or, without one, a "
                           "held-out tenth of train) or the whole training split, as papers' CIFAR-10 FIDs do.")
]


@app.command()
@at_boundary
def evaluate(
    model: Annotated[
        Optional[str], typer.Argument(help="Registered model name (leave out with --images).", show_default=False)
    ] = None,
    run: Annotated[Optional[Path], typer.Option("--run", help="Run folder (default: the newest run of MODEL).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="A checkpoint file instead of a run.")] = None,
    images: Annotated[
        Optional[Path],
        typer.Option("--images", help="Score images ganzoo did not make: an .npz (uint8 'images', optional 'labels') "
                     "or a folder of PNGs (one sub-folder per class for labels). Needs --dataset."),
    ] = None,
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", help="With --images: the dataset they are compared to.")
    ] = None,
    data_dir: DataDir = None,
    runs_dir: RunsDir = None,
    n: Annotated[int, typer.Option("--n", "-n", min=2, help="Generated images per class.")] = 1000,
    fid_n: Annotated[int, typer.Option("--fid-n", min=2, help="Generated images for Inception FID.")] = 10000,
    metrics: Annotated[
        str, typer.Option("--metrics", help="Comma-separated metric names (see 'ganzoo metrics'), or all.")
    ] = "all",
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Report folder (default: RUN/reports/step_N, or "
                                     "./reports/images-NAME with --images).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Noise seed of the generated images.")] = 0,
    device: Device = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite a report already in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    real_split: RealSplit = "test",
    as_json: Json = False,
) -> None:
    """Evaluate a trained MODEL (or, with --images, images from anywhere): per-class accuracy,
    classifier / intra-class / Inception FID, KID, precision / recall, density / coverage,
    written as report.json, report.md and a self-contained report.html."""
    from .evaluate.run import evaluate as run_evaluation
    from .evaluate.run import evaluate_images

    if images is not None:
        if model is not None or run is not None or checkpoint is not None:
            raise UsageError("--images scores a set of images, not a model: leave out MODEL, --run and --checkpoint")
        if not dataset:
            raise UsageError("--images needs --dataset: the dataset whose real images they are compared to")
        folder = evaluate_images(images, dataset=dataset, data_dir=data_dir, fid_n=fid_n, metrics=metrics, out=out,
                                 device=device, force=force, progress=not quiet, real_split=real_split)
    else:
        if model is None:
            raise UsageError("name the MODEL to evaluate (see 'ganzoo models'), or give --images PATH --dataset NAME")
        if dataset is not None:
            raise UsageError("--dataset goes with --images; a model's run knows its own dataset")
        if run is not None and checkpoint is not None:
            raise UsageError("give --run or --checkpoint, not both")
        folder = run_evaluation(
            model, run=run, checkpoint=checkpoint, runs_dir=runs_dir, data_dir=data_dir, n_per_class=n, fid_n=fid_n,
            metrics=metrics, out=out, seed=seed, device=device, force=force, progress=not quiet, real_split=real_split,
        )
    if as_json:
        import json

        _print_json({"report_folder": str(folder), **json.loads((folder / "report.json").read_text(encoding="utf-8"))})
        return
    typer.echo(f"report: {folder / 'report.html'}")
    for line in summary_lines(folder / "report.json"):
        typer.echo(line)


@app.command()
@at_boundary
def export(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .safetensors file to write (and FILE.json beside it); "
                                      "with --format hub, a folder.")],
    run: Annotated[Optional[Path], typer.Option("--run", help="Run folder (default: the newest run of MODEL).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="A checkpoint file instead of a run.")] = None,
    runs_dir: RunsDir = None,
    format_: Annotated[
        str, typer.Option("--format", help="safetensors (one file), or hub: a Hugging Face Hub model folder "
                          "(model.safetensors, config.json, a model card README.md, samples.png).")
    ] = "safetensors",
    license_id: Annotated[str, typer.Option("--license", help="With --format hub: the weights' license id.")] = "mit",
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
) -> None:
    """Export a run's generator as safetensors plus the JSON config that rebuilds it, or as
    a Hub-ready folder ('ganzoo sample MODEL --checkpoint FILE|FOLDER' reads either)."""
    from .runs.export import check_format, export_checkpoint
    from .runs.folder import runs_dir as default_runs_dir
    from .sample import find_checkpoint

    if run is not None and checkpoint is not None:
        raise UsageError("give --run or --checkpoint, not both")
    check_format(format_)
    path = find_checkpoint(model, run, checkpoint, default_runs_dir(runs_dir))
    written, weights_used = export_checkpoint(model, path, out, format_=format_, force=force, license_id=license_id)
    weights = " (the EMA generator's weights)" if weights_used == "ema" else ""
    if format_ == "hub":
        typer.echo(f"hub folder: {written}{weights} (model card: {written / 'README.md'})")
        return
    typer.echo(f"generator: {written}{weights} (config: {written.with_suffix('.json')})")


@app.command()
@at_boundary
def leaderboard(
    recipe: Annotated[str, typer.Option("--recipe", "-r", help="Recipe name the runs were trained on.")],
    runs_dir: RunsDir = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Leaderboard folder (default: RUNS/leaderboards/RECIPE-TIME).")
    ] = None,
    data_dir: DataDir = None,
    n: Annotated[int, typer.Option("--n", "-n", min=2, help="Generated images per class, for every model.")] = 1000,
    fid_n: Annotated[int, typer.Option("--fid-n", min=2, help="Generated images for Inception FID.")] = 10000,
    metrics: Annotated[
        str, typer.Option("--metrics", help="Comma-separated metric names (see 'ganzoo metrics'), or all.")
    ] = "all",
    rank_by: Annotated[
        Optional[str], typer.Option("--rank-by", help="The metric that orders the table (default: classifier-fid).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Noise seed, the same for every model.")] = 0,
    device: Device = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite a leaderboard already in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    real_split: RealSplit = "test",
) -> None:
    """Compare the newest run of every model trained on a recipe: each evaluated the same way
    (same data, judge, N and seed), written as leaderboard.md and leaderboard.html."""
    from .evaluate.leaderboard import leaderboard as make_leaderboard

    folder = make_leaderboard(recipe, runs_dir=runs_dir, out=out, data_dir=data_dir, n_per_class=n, fid_n=fid_n,
                              seed=seed, device=device, force=force, progress=not quiet, metrics=metrics,
                              rank_by=rank_by, real_split=real_split)
    typer.echo(f"leaderboard: {folder / 'leaderboard.html'}")
    typer.echo(_table_of(folder / "leaderboard.md"))


def _table_of(markdown: Path) -> str:
    """The table lines of a leaderboard.md, without the sample-grid column."""
    lines = [line for line in markdown.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    return "\n".join(line.rsplit("|", 2)[0] + "|" for line in lines)


def summary_lines(path: Path) -> list[str]:
    import json

    from .data import HELD_OUT_SPLIT

    report = json.loads(path.read_text(encoding="utf-8"))
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


@app.command("runs")
@at_boundary
def list_runs(
    model: Annotated[Optional[str], typer.Argument(help="Only the runs of this model.", show_default=False)] = None,
    recipe: Annotated[Optional[str], typer.Option("--recipe", "-r", help="Only the runs of this recipe.")] = None,
    runs_dir: RunsDir = None,
    as_json: Json = False,
) -> None:
    """List the runs, oldest first: where each stands (training now, stopped, finished,
    failed, damaged), its step, training time and newest evaluation report."""
    from .runs.folder import runs_dir as default_runs_dir
    from .runs.listing import list_runs as runs_under

    root = default_runs_dir(runs_dir)
    rows = runs_under(root, model, recipe)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        which = " ".join(part for part in (model and f"of {model!r}", recipe and f"on recipe {recipe!r}") if part)
        typer.echo(f"no runs{' ' + which if which else ''} in {root}")
        return
    table = [("run", "model", "recipe", "state", "step", "trained", "newest report")]
    table += [(Path(row["run"]).name, str(row["model"]), str(row["recipe"]), _state_text(row), _step_text(row),
               _duration_text(row["train_seconds"]), _report_text(row["report"])) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


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


@app.command()
@at_boundary
def ui(
    runs_dir: RunsDir = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 7860,
    device: Device = "auto",
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
) -> None:
    """A local page to sample the runs and exported models under the runs folder: pick one,
    a class, a seed and a truncation; see samples and a latent walk (needs 'ganzoo[ui]')."""
    from .device import resolve_device
    from .runs.folder import runs_dir as default_runs_dir
    from .ui import serve

    serve(default_runs_dir(runs_dir), host=host, port=port, device=str(resolve_device(device)),
          open_browser=open_browser)


@app.command()
@at_boundary
def models(as_json: Json = False) -> None:
    """List the registered models and the plugin each comes from."""
    from .plugins import get_host

    from .models import model_settings

    host = get_host()
    if as_json:
        _print_json([
            {"name": name, "conditional": spec.conditional, "plugin": host.models.owner(name), "loss": spec.loss,
             "description": spec.description, "settings": model_settings(spec), "train_defaults": spec.train_defaults,
             "step": spec.step.__name__ if spec.step else "AdversarialStep", "tunings": host.tuned_recipes(name),
             "presets": spec.presets}
            for name, spec in ((n, host.models.get(n)) for n in host.models)
        ])
        return
    if not len(host.models):
        typer.echo("no models registered (install a plugin such as ganzoo-acgan)")
    for name in host.models:
        spec = host.models.get(name)
        kind = {True: "conditional", False: "unconditional"}.get(spec.conditional, str(spec.conditional))
        typer.echo(f"{name:<16} {kind:<14} {host.models.owner(name):<12} {spec.description}")


@app.command()
@at_boundary
def recipes(as_json: Json = False) -> None:
    """List the recipes: built in and from plugins."""
    from .plugins import get_host
    from .recipes import describe

    host = get_host()
    if as_json:
        _print_json([
            {"name": name, "owner": source.owner, "description": describe(source), "path": source.path,
             "tuned_by": {model: host.tuning(model, name).path for model in host.tuned_models(name)}}
            for name, source in ((n, host.recipes.get(n)) for n in host.recipes)
        ])
        return
    for name in host.recipes:
        source = host.recipes.get(name)
        tuned = host.tuned_models(name)
        tuned_text = f" (tuned by plugins for: {', '.join(tuned)})" if tuned else ""
        typer.echo(f"{name:<16} {source.owner:<12} {describe(source)}{tuned_text}")


@app.command()
@at_boundary
def datasets(as_json: Json = False) -> None:
    """List the registered datasets and the plugin each comes from."""
    from .plugins import get_host

    host = get_host()
    rows = [{"name": name, "plugin": host.datasets.owner(name), "description": host.datasets.get(name).description}
            for name in host.datasets]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("no datasets registered")
    for row in rows:
        typer.echo(f"{row['name']:<16} {row['plugin']:<12} {row['description']}")


@app.command("metrics")
@at_boundary
def list_metrics(as_json: Json = False) -> None:
    """List the registered evaluation metrics ('ganzoo evaluate --metrics NAME,...')."""
    from .evaluate.run import registered_metrics
    from .plugins import get_host

    host = get_host()
    rows = [{"name": m.name, "plugin": host.metrics.owner(m.name), "label": m.label, "better": m.better,
             "applies": m.applies, "description": m.description} for m in registered_metrics()]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']:<20} {row['plugin']:<12} {row['better']:<7} {row['applies']:<14} {row['description']}")


@app.command()
@at_boundary
def plugins(as_json: Json = False) -> None:
    """List the installed plugins: name, version, where from, status."""
    import dataclasses

    from .plugins import get_host

    host = get_host()
    if as_json:
        _print_json([dataclasses.asdict(info) for info in host.plugins])
        return
    if not host.plugins:
        typer.echo("no plugins installed")
    for info in host.plugins:
        origin = f"{info.distribution} {info.version}".strip() or "?"
        status = info.status if info.status == "ok" else f"{info.status}: {info.reason}"
        typer.echo(f"{info.name:<16} {origin:<24} {status:<8} {info.location}")


NEWEST_RUN = "newest"


def expand_bare_resume(args: list[str]) -> list[str]:
    """``train MODEL --resume`` with no folder after it means the newest run (click has no
    options with an optional value)."""
    if "train" not in args:
        return args
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--resume" and (i + 1 == len(out) or out[i + 1].startswith("-")):
            out.insert(i + 1, NEWEST_RUN)
            break
    return out


TORCHRUN_NPROC_WORDS = ("auto", "cpu", "gpu")


def torchrun_command(args: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """``train ... --nproc-per-node N`` outside torchrun -> the torchrun command that runs
    the same training in N processes, and its environment; None when there is nothing to
    launch."""
    from .ranks import launched_by_torchrun

    if "train" not in args[:1]:
        return None
    count, rest = None, list(args)
    for i, arg in enumerate(args):
        if arg == "--nproc-per-node" and i + 1 < len(args):
            count, rest = args[i + 1], args[:i] + args[i + 2 :]
            break
        if arg.startswith("--nproc-per-node="):
            count, rest = arg.split("=", 1)[1], args[:i] + args[i + 1 :]
            break
    if count is None or launched_by_torchrun():
        return None
    if not (count.isdigit() and int(count) > 0) and count not in TORCHRUN_NPROC_WORDS:
        raise UsageError(f"--nproc-per-node takes a number of processes or one of {', '.join(TORCHRUN_NPROC_WORDS)}, "
                         f"got {count!r}")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={count}",
               "-m", "ganzoo", *rest]
    threads = threads_per_process(count)
    return command, {**os.environ, **({"OMP_NUM_THREADS": threads} if threads else {})}


def threads_per_process(count: str) -> str | None:
    """``OMP_NUM_THREADS`` for each of the shortcut's processes: the cores this process may
    use, shared evenly, at least 1. torchrun's own default is 1 thread a process (and a
    banner saying so), which leaves all but N cores idle in a CPU training on a larger
    machine. None when the user set it, or the count is a word only torchrun resolves."""
    if os.environ.get("OMP_NUM_THREADS") or count in ("gpu", "auto"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return str(max(1, cores // (cores if count == "cpu" else int(count))))


def _exit_at_once(signum: int, frame: Any) -> None:
    """Outside a command (setting up, shutting down) a signal ends the process with one
    line and 130 / 143, without unwinding into half-finished imports or atexit hooks."""
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    try:
        for stream in (sys.stdout, sys.stderr):  # what the command printed still gets out
            stream.flush()
        os.write(2, f"ganzoo: error: {word}\n".encode())
    finally:
        os._exit(128 + signum)


def _signals(during_command: bool) -> None:
    if during_command:  # commands turn these into one line themselves (at_boundary, the training loop)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, raise_terminated)
    else:
        signal.signal(signal.SIGINT, _exit_at_once)
        signal.signal(signal.SIGTERM, _exit_at_once)


def main() -> None:
    """Entry point: click's usage errors become one line too, like ganzoo's own."""
    _signals(during_command=True)
    guard_stdout()
    try:
        _run(expand_bare_resume(sys.argv[1:]))
    finally:
        _signals(during_command=False)  # the interpreter's exit: atexit hooks, module teardown


def _run(args: list[str]) -> None:
    try:
        launch = torchrun_command(args)
    except UsageError as exc:
        say_error(str(exc))
        sys.exit(2)
    if launch is not None:
        command, environment = launch
        os.execve(sys.executable, command, environment)  # becomes torchrun: its exit code is ours
    try:
        code = app(args=args, prog_name="ganzoo", standalone_mode=False)
        sys.stdout.flush()  # what print() left in the buffer fails here, not in the interpreter's exit
    except KeyboardInterrupt:  # between click's parsing and a command's own boundary
        say_error("interrupted")
        sys.exit(130)
    except Terminated:
        say_error("terminated")
        sys.exit(143)
    except typer.Abort:
        say_error("interrupted")
        sys.exit(130)
    except OutputError as exc:  # --help or --version into a full disk, or the last flush
        sys.exit(output_failed(exc).exit_code)
    except Exception as exc:
        # click's own errors (typer runs on a vendored click): bad options and arguments
        if not callable(getattr(exc, "format_message", None)):
            raise
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None and exc.exit_code == 2 else ""
        say_error(f"{exc.format_message()}{hint}")
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
