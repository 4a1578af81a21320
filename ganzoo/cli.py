"""The ``ganzoo`` commands: each parses its options, calls ``ganzoo.api`` and prints
(``tables.py`` formats). ``main.py`` runs them in the process.

With ``boundary.py`` and ``main.py`` it is the only place where errors become exit codes:
every command is wrapped in :func:`~ganzoo.boundary.at_boundary`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import __version__, tables
from .boundary import at_boundary
from .errors import UsageError
from .launch import NEWEST_RUN
from .ranks import process_rank
from .seeds import MAX_SEED

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


def _api():
    """ganzoo.api, imported when a command runs: it imports torch (seconds), which --help
    and --version do without."""
    from . import api  # start-up: torch and the plugins load when a command runs, not for --help

    return api


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


# -- the options several commands share ------------------------------------------------
Model = Annotated[str, typer.Argument(help="Registered model name (see 'ganzoo models').")]
DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", envvar="GANZOO_DATA_DIR", help="Dataset root (default: ~/.cache/ganzoo/data)."),
]
RunsDir = Annotated[
    Optional[Path], typer.Option("--runs-dir", envvar="GANZOO_RUNS_DIR", help="Runs folder (default: ./runs).")
]
Device = Annotated[str, typer.Option("--device", envvar="GANZOO_DEVICE", help="auto, cpu, cuda or cuda:N.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text, for scripts.")]
Run = Annotated[Optional[Path], typer.Option("--run", help="Run folder (default: the newest run of MODEL).")]
Checkpoint = Annotated[Optional[Path], typer.Option(
    "--checkpoint", help="A checkpoint file, exported .safetensors or Hub folder instead of a run.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Truncation = Annotated[Optional[float], typer.Option(
    "--truncation", metavar="PSI", help="Truncation trick: noise pulled toward its mean, PSI * z (1: unchanged; "
    "smaller: more typical, less varied images; 0: the mean latent's image).")]
PerClass = Annotated[int, typer.Option("--n", "-n", min=2, help="Generated images per class.")]
FidN = Annotated[int, typer.Option("--fid-n", min=2, help="Generated images for Inception FID.")]
Metrics = Annotated[str, typer.Option("--metrics", help="Comma-separated metric names (see 'ganzoo metrics'), or all.")]
RealSplit = Annotated[str, typer.Option(
    "--real-split", metavar="test|train", help="The real images every metric compares against: the test split (or, "
    "without one, a held-out tenth of train) or the whole training split, as papers' CIFAR-10 FIDs do.")]
Seed = Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Noise seed of the generated images.")]


# -- training ------------------------------------------------------------------------
@app.command()
@at_boundary
def train(
    model: Model,
    recipe: Annotated[
        Optional[str], typer.Option("--recipe", "-r", help="Recipe name or path to a YAML file.  [default: mnist]")
    ] = None,
    data_dir: DataDir = None,
    runs_dir: RunsDir = None,
    device: Device = "auto",
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", "-s", help="Override a setting: key=value (repeatable).")
    ] = None,
    quiet: Quiet = False,
    logger: Annotated[Optional[str], typer.Option(
        "--logger", help="Also log to registered loggers: 'tensorboard', 'wandb' (their extras: pip install "
        "'ganzoo[tensorboard]', 'ganzoo[wandb]') or a plugin's; several: tensorboard,wandb; the same as --set "
        "logger=...")] = None,
    resume: Annotated[Optional[str], typer.Option(
        "--resume", metavar="[RUN_DIR]", help="Continue RUN_DIR from its last checkpoint, in its own folder; alone: "
        "the newest run of MODEL; RUN_DIR/checkpoints/step_N.pt: go back to that step (what came after is set aside "
        "in RUN_DIR/set-aside/). Only budgets, intervals and speed switches may change (--set max_steps=N).")] = None,
    allow_other_data: Annotated[bool, typer.Option(
        "--allow-other-data", help="With --resume: continue on data whose fingerprint differs from the data the run "
        "was trained on (the run's config records it).")] = False,
    nproc_per_node: Annotated[Optional[str], typer.Option(
        "--nproc-per-node", help="Train with N processes on this machine: a shortcut that starts 'torchrun "
        "--standalone --nproc-per-node N -m ganzoo train ...' (see docs/distributed.md).")] = None,
) -> None:
    """Train MODEL on a recipe in a new run folder, or --resume a run."""
    api = _api()
    overrides = list(set_ or []) + ([f"logger={logger}"] if logger is not None else [])
    common = dict(settings=api.parse_overrides(overrides), data_dir=data_dir, runs_dir=runs_dir, device=device,
                  progress=not quiet)
    if resume is not None:
        if recipe is not None:
            raise UsageError("--recipe does not go with --resume: a resumed run keeps the recipe it was trained "
                             "with; --set may change its budget, intervals and speed settings")
        run = None if resume == NEWEST_RUN and not Path(resume).is_dir() else Path(resume)
        run_dir = api.resume(run, model=model, allow_other_data=allow_other_data, **common)
    else:
        if allow_other_data:
            raise UsageError("--allow-other-data goes with --resume: a new run records the data it trains on")
        run_dir = api.train(model, recipe=recipe or "mnist", **common)
    if process_rank() == 0:
        typer.echo(f"run folder: {run_dir}")


# -- a trained generator -------------------------------------------------------------
@app.command()
@at_boundary
def sample(
    model: Model,
    class_: Annotated[Optional[str], typer.Option(
        "--class", "-c", help="Class index, class name, or 'all' (one row per class; the default). Unconditional "
        "models take no --class.")] = None,
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="Images (per class with 'all').")] = 10,
    run: Run = None,
    checkpoint: Checkpoint = None,
    runs_dir: RunsDir = None,
    seed: Seed = 0,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help=".png/.jpg grid, .npz arrays, or a folder (no suffix).")
    ] = None,
    device: Device = "auto",
    force: Force = False,
    quiet: Quiet = False,
    truncation: Truncation = None,
) -> None:
    """Generate images of one class (or every class) from a trained run."""
    api = _api()
    loaded = api.load(api.source_of(run, checkpoint), model=model, runs_dir=runs_dir, device=device)
    path = loaded.save(class_, n=n, seed=seed, out=out, truncation=truncation, force=force, progress=not quiet)
    typer.echo(f"samples: {path}" + (" (the EMA generator's weights)" if loaded.weights == "ema" else ""))


@app.command()
@at_boundary
def interpolate(
    model: Model,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated noise seeds to walk between.")] = "0,1",
    steps: Annotated[int, typer.Option("--steps", min=2, help="Frames from one seed to the next.")] = 8,
    mode: Annotated[str, typer.Option("--mode", help="linear or spherical (keeps the noise's length).")] = "spherical",
    class_: Annotated[Optional[str], typer.Option("--class", "-c", help="One class (default: a row per class).")] = None,
    across_classes: Annotated[
        bool, typer.Option("--across-classes", help="One noise (the first seed), every class in turn.")
    ] = False,
    truncation: Truncation = None,
    run: Run = None,
    checkpoint: Checkpoint = None,
    runs_dir: RunsDir = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="The strip's .png (the GIF goes beside it, .gif).")
    ] = None,
    device: Device = "auto",
    force: Force = False,
) -> None:
    """Walk the latent space between seeds (or across classes): a PNG strip and an animated GIF."""
    api = _api()
    seed_list = api.parse_seeds(seeds)
    loaded = api.load(api.source_of(run, checkpoint), model=model, runs_dir=runs_dir, device=device)
    png, gif = loaded.interpolate(seed_list, steps=steps, mode=mode, class_=class_, across_classes=across_classes,
                                  truncation=truncation, out=out, force=force)
    typer.echo(f"interpolation: {png} and {gif}")


@app.command()
@at_boundary
def export(
    model: Model,
    out: Annotated[Path, typer.Option("--out", "-o", help="The .safetensors file to write (and FILE.json beside it); "
                                      "with --format hub, a folder.")],
    run: Run = None,
    checkpoint: Checkpoint = None,
    runs_dir: RunsDir = None,
    format_: Annotated[str, typer.Option(
        "--format", help="safetensors (one file), or hub: a Hugging Face Hub model folder (model.safetensors, "
        "config.json, a model card README.md, samples.png).")] = "safetensors",
    license_id: Annotated[str, typer.Option("--license", help="With --format hub: the weights' license id.")] = "mit",
    force: Force = False,
) -> None:
    """Export a run's generator as safetensors plus the JSON config that rebuilds it, or as
    a Hub-ready folder ('ganzoo sample MODEL --checkpoint FILE|FOLDER' reads either)."""
    api = _api()
    written, weights_used = api.export_weights(api.source_of(run, checkpoint), out, model=model, runs_dir=runs_dir,
                                               format=format_, license=license_id, force=force)
    weights = " (the EMA generator's weights)" if weights_used == "ema" else ""
    if format_ == "hub":
        typer.echo(f"hub folder: {written}{weights} (model card: {written / 'README.md'})")
        return
    typer.echo(f"generator: {written}{weights} (config: {written.with_suffix('.json')})")


# -- evaluation ----------------------------------------------------------------------
@app.command()
@at_boundary
def evaluate(
    model: Annotated[
        Optional[str], typer.Argument(help="Registered model name (leave out with --images).", show_default=False)
    ] = None,
    run: Run = None,
    checkpoint: Checkpoint = None,
    images: Annotated[Optional[Path], typer.Option(
        "--images", help="Score images ganzoo did not make: an .npz (uint8 'images', optional 'labels') or a folder "
        "of PNGs (one sub-folder per class for labels). Needs --dataset.")] = None,
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", help="With --images: the dataset they are compared to.")
    ] = None,
    data_dir: DataDir = None,
    runs_dir: RunsDir = None,
    n: PerClass = 1000,
    fid_n: FidN = 10000,
    metrics: Metrics = "all",
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Report folder (default: RUN/reports/step_N, or ./reports/images-NAME with --images).")
    ] = None,
    seed: Seed = 0,
    device: Device = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite a report already in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    real_split: RealSplit = "test",
    as_json: Json = False,
) -> None:
    """Evaluate a trained MODEL (or, with --images, images from anywhere): per-class accuracy,
    classifier / intra-class / Inception FID, KID, precision / recall, density / coverage,
    written as report.json, report.md and a self-contained report.html."""
    api = _api()
    options = dict(data_dir=data_dir, fid_n=fid_n, metrics=metrics, out=out, device=device, force=force,
                   progress=not quiet, real_split=real_split)
    if images is not None:
        if model is not None or run is not None or checkpoint is not None:
            raise UsageError("--images scores a set of images, not a model: leave out MODEL, --run and --checkpoint")
        if not dataset:
            raise UsageError("--images needs --dataset: the dataset whose real images they are compared to")
        report = api.evaluate_images(images, dataset=dataset, **options)
    else:
        if model is None:
            raise UsageError("name the MODEL to evaluate (see 'ganzoo models'), or give --images PATH --dataset NAME")
        if dataset is not None:
            raise UsageError("--dataset goes with --images; a model's run knows its own dataset")
        report = api.evaluate(model, run=run, checkpoint=checkpoint, runs_dir=runs_dir, n_per_class=n, seed=seed,
                              **options)
    folder = Path(report.pop("folder"))
    if as_json:
        _print_json({"report_folder": str(folder), **report})
        return
    typer.echo(f"report: {folder / 'report.html'}")
    for line in tables.summary_lines(report):
        typer.echo(line)


@app.command()
@at_boundary
def leaderboard(
    recipe: Annotated[str, typer.Option("--recipe", "-r", help="Recipe name the runs were trained on.")],
    runs_dir: RunsDir = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Leaderboard folder (default: RUNS/leaderboards/RECIPE-TIME).")] = None,
    data_dir: DataDir = None,
    n: PerClass = 1000,
    fid_n: FidN = 10000,
    metrics: Metrics = "all",
    rank_by: Annotated[Optional[str], typer.Option(
        "--rank-by", help="The metric that orders the table (default: classifier-fid).")] = None,
    seed: Seed = 0,
    device: Device = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite a leaderboard already in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    real_split: RealSplit = "test",
) -> None:
    """Compare the newest run of every model trained on a recipe: each evaluated the same way
    (same data, judge, N and seed), written as leaderboard.md and leaderboard.html."""
    board = _api().leaderboard(recipe, runs_dir=runs_dir, out=out, data_dir=data_dir, n_per_class=n, fid_n=fid_n,
                               seed=seed, device=device, force=force, progress=not quiet, metrics=metrics,
                               rank_by=rank_by, real_split=real_split)
    folder = Path(board["folder"])
    typer.echo(f"leaderboard: {folder / 'leaderboard.html'}")
    typer.echo(tables.leaderboard_table(folder / "leaderboard.md"))


# -- what there is -------------------------------------------------------------------
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
    api = _api()
    rows = api.runs(model, recipe=recipe, runs_dir=runs_dir)
    if as_json:
        _print_json(rows)
    elif not rows:
        which = " ".join(part for part in (model and f"of {model!r}", recipe and f"on recipe {recipe!r}") if part)
        typer.echo(f"no runs{' ' + which if which else ''} in {api.runs_folder(runs_dir)}")
    else:
        typer.echo("\n".join(tables.runs_table(rows)))


def _listing(kind: str, line: Any, as_json: bool, empty: str | None = None) -> None:
    rows = _api().catalog(kind)
    if as_json:
        _print_json(rows)
        return
    if not rows and empty:
        typer.echo(empty)
    for row in rows:
        typer.echo(line(row))


@app.command()
@at_boundary
def models(as_json: Json = False) -> None:
    """List the registered models and the plugin each comes from."""
    _listing("models", tables.model_line, as_json, "no models registered (install a plugin such as ganzoo-acgan)")


@app.command()
@at_boundary
def recipes(as_json: Json = False) -> None:
    """List the recipes: built in and from plugins."""
    _listing("recipes", tables.recipe_line, as_json)


@app.command()
@at_boundary
def datasets(as_json: Json = False) -> None:
    """List the registered datasets and the plugin each comes from."""
    _listing("datasets", tables.dataset_line, as_json, "no datasets registered")


@app.command("metrics")
@at_boundary
def list_metrics(as_json: Json = False) -> None:
    """List the registered evaluation metrics ('ganzoo evaluate --metrics NAME,...')."""
    _listing("metrics", tables.metric_line, as_json)


@app.command()
@at_boundary
def plugins(as_json: Json = False) -> None:
    """List the installed plugins: name, version, where from, status."""
    _listing("plugins", tables.plugin_line, as_json, "no plugins installed")


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
    from .ui import serve  # start-up: the page's module imports torch and the API

    api = _api()
    serve(api.runs_folder(runs_dir), host=host, port=port, device=str(api.resolve_device(device)),
          open_browser=open_browser)
