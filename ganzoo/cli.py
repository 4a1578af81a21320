"""The ``ganzoo`` command line: the only place where errors become exit codes.

Usage errors (bad names, keys, values) exit 2, runtime errors 1, SIGINT 130 and SIGTERM
143 (a training run saves a checkpoint first); each is one line on stderr. ``GANZOO_DEBUG=1`` shows the traceback of an unexpected error.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

try:  # recent typer ships its own copy of click
    from typer._click.exceptions import ClickException, UsageError as ClickUsageError
except ImportError:  # older typer runs on click itself
    from click.exceptions import ClickException, UsageError as ClickUsageError

from . import __version__
from .errors import GanzooError, UsageError, first_line

app = typer.Typer(
    name="ganzoo",
    help="A plugin-based GAN zoo: train, sample and inspect GANs from YAML recipes.",
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Terminated(BaseException):
    """SIGTERM outside a training loop (the trainer catches it itself and checkpoints)."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"ganzoo: error: {message}", err=True)
    return typer.Exit(code)


def at_boundary(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every error a command raises into one stderr line and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except GanzooError as exc:
            raise _fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", 130) from None
        except Terminated:
            raise _fail("terminated", 143) from None
        except Exception as exc:  # a bug, not bad input: say so in one line
            if os.environ.get("GANZOO_DEBUG"):
                traceback.print_exc()
            raise _fail(
                f"internal error: {type(exc).__name__}: {first_line(exc, '')} (set GANZOO_DEBUG=1 for the traceback)", 1
            ) from None

    return wrapper


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


@app.command()
@at_boundary
def train(
    model: Annotated[str, typer.Argument(help="Registered model name (see 'ganzoo models').")],
    recipe: Annotated[str, typer.Option("--recipe", "-r", help="Recipe name or path to a YAML file.")] = "mnist",
    data_dir: DataDir = None,
    runs_dir: RunsDir = None,
    device: Device = "auto",
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", "-s", help="Override a setting: key=value (repeatable).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    resume: Annotated[
        Optional[str],
        typer.Option(
            "--resume",
            metavar="[RUN_DIR]",
            help="Continue RUN_DIR from its last checkpoint, in its own folder; alone: the newest run of MODEL. "
            "Only budgets, intervals and speed switches may change (--set max_steps=N).",
        ),
    ] = None,
) -> None:
    """Train MODEL on a recipe in a new run folder, or --resume a run."""
    from .training import resume_run, train_run

    common = dict(overrides=set_ or [], data_dir=data_dir, runs_dir=runs_dir, device=device, progress=not quiet)
    if resume is not None:
        run = None if resume == NEWEST_RUN and not Path(resume).is_dir() else Path(resume)
        run_dir = resume_run(model, run, **common)
    else:
        run_dir = train_run(model, recipe, **common)
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
    seed: Annotated[int, typer.Option("--seed", help="Noise seed.")] = 0,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help=".png/.jpg grid, .npz arrays, or a folder (no suffix).")
    ] = None,
    device: Device = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
) -> None:
    """Generate images of one class (or every class) from a trained run."""
    from .sample import sample_to_file

    path = sample_to_file(
        model, class_, n=n, run=run, checkpoint=checkpoint, runs_dir=runs_dir, seed=seed, out=out, device=device, force=force
    )
    typer.echo(f"samples: {path}")


@app.command()
@at_boundary
def evaluate(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    run: Annotated[Optional[Path], typer.Option("--run", help="Run folder (default: the newest run of MODEL).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="A checkpoint file instead of a run.")] = None,
    data_dir: DataDir = None,
    runs_dir: RunsDir = None,
    n: Annotated[int, typer.Option("--n", "-n", min=2, help="Generated images per class.")] = 1000,
    fid_n: Annotated[int, typer.Option("--fid-n", min=2, help="Generated images for Inception FID.")] = 10000,
    metrics: Annotated[
        str, typer.Option("--metrics", help="Comma-separated: accuracy, classifier-fid, intra-fid, inception-fid; or all.")
    ] = "all",
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Report folder (default: RUN/reports/step_N).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Noise seed of the generated images.")] = 0,
    device: Device = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite a report already in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Evaluate a trained MODEL: per-class accuracy, classifier / intra-class / Inception FID,
    written as report.json, report.md and a self-contained report.html."""
    from .evaluate.run import evaluate as run_evaluation

    if run is not None and checkpoint is not None:
        raise UsageError("give --run or --checkpoint, not both")
    folder = run_evaluation(
        model, run=run, checkpoint=checkpoint, runs_dir=runs_dir, data_dir=data_dir, n_per_class=n, fid_n=fid_n,
        metrics=metrics, out=out, seed=seed, device=device, force=force, progress=not quiet,
    )
    typer.echo(f"report: {folder / 'report.html'}")
    for line in summary_lines(folder / "report.json"):
        typer.echo(line)


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
    seed: Annotated[int, typer.Option("--seed", help="Noise seed, the same for every model.")] = 0,
    device: Device = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite a leaderboard already in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Compare the newest run of every model trained on a recipe: each evaluated the same way
    (same data, judge, N and seed), written as leaderboard.md and leaderboard.html."""
    from .evaluate.leaderboard import leaderboard as make_leaderboard

    folder = make_leaderboard(recipe, runs_dir=runs_dir, out=out, data_dir=data_dir, n_per_class=n, fid_n=fid_n,
                              seed=seed, device=device, force=force, progress=not quiet)
    typer.echo(f"leaderboard: {folder / 'leaderboard.html'}")
    typer.echo(_table_of(folder / "leaderboard.md"))


def _table_of(markdown: Path) -> str:
    """The table lines of a leaderboard.md, without the sample-grid column."""
    lines = [line for line in markdown.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    return "\n".join(line.rsplit("|", 2)[0] + "|" for line in lines)


def summary_lines(path: Path) -> list[str]:
    import json

    report = json.loads(path.read_text(encoding="utf-8"))
    m = report["metrics"]
    lines = [f"judge accuracy on real test images: {report['judge']['test_accuracy']:.2%}"]
    if "accuracy" in m:
        lines.append(f"per-class accuracy: mean {m['accuracy']['mean']:.2%}, min {m['accuracy']['min']:.2%}")
    if "classifier_fid" in m:
        lines.append(f"classifier FID: {m['classifier_fid']['value']:.2f} (floor, real vs real: {m['classifier_fid']['floor']:.2f})")
    if "intra_class_fid" in m:
        lines.append(f"intra-class FID (mean): {m['intra_class_fid']['mean']:.2f}")
    if "inception_fid" in m:
        f = m["inception_fid"]
        lines.append(f"Inception FID: {f['value']:.2f}" if f["status"] == "ok" else "Inception FID: unavailable (see report)")
    return lines


@app.command()
@at_boundary
def models() -> None:
    """List the registered models and the plugin each comes from."""
    from .plugins import get_host

    host = get_host()
    if not len(host.models):
        typer.echo("no models registered (install a plugin such as ganzoo-acgan)")
    for name in host.models:
        spec = host.models.get(name)
        kind = {True: "conditional", False: "unconditional"}.get(spec.conditional, str(spec.conditional))
        typer.echo(f"{name:<16} {kind:<14} {host.models.owner(name):<12} {spec.description}")


@app.command()
@at_boundary
def recipes() -> None:
    """List the recipes: built in and from plugins."""
    from .plugins import get_host
    from .recipes import describe

    host = get_host()
    for name in host.recipes:
        source = host.recipes.get(name)
        tuned = host.tuned_models(name)
        tuned_text = f" (tuned by plugins for: {', '.join(tuned)})" if tuned else ""
        typer.echo(f"{name:<16} {source.owner:<12} {describe(source)}{tuned_text}")


@app.command()
@at_boundary
def plugins() -> None:
    """List the installed plugins: name, version, where from, status."""
    from .plugins import get_host

    host = get_host()
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


def main() -> None:
    """Entry point: click's usage errors become one line too, like ganzoo's own."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = app(args=expand_bare_resume(sys.argv[1:]), prog_name="ganzoo", standalone_mode=False)
    except ClickUsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        typer.echo(f"ganzoo: error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except ClickException as exc:
        typer.echo(f"ganzoo: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("ganzoo: error: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
