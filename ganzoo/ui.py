"""``ganzoo ui``: a local page to look at trained generators.

Pick a run or an exported model found under the runs folder, a class, a seed and a
truncation; see a grid of samples and a walk through the latent space from that seed to
another. The page is Gradio's (``pip install 'ganzoo[ui]'``), listens on 127.0.0.1 by
default and reads no file outside the runs folder: the choices are what a scan of that
folder found, and a request can only name one of them.

:class:`Gallery` does the work and needs no Gradio, so it is tested on its own.
"""

from __future__ import annotations

import errno
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .api import load
from .artifacts import is_hub_folder
from .errors import GanzooError, UsageError
from .grids import tile, to_pil
from .interpolate import interpolation_grid
from .runs.folder import RunFolder
from .seeds import MAX_SEED, check_seed

MAX_IMAGES = 64
WALK_STEPS = 8


@dataclass(frozen=True)
class Choice:
    label: str  # what the page shows: the path under the runs folder
    path: Path


def scan(root: Path, depth: int = 3) -> list[Choice]:
    """Run folders with a checkpoint, exported ``.safetensors`` generators and Hub folders
    under ``root``, newest first."""
    found: list[tuple[float, Choice]] = []

    def visit(folder: Path, level: int) -> None:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if (entry / "config.yaml").is_file() and RunFolder(entry).last.is_file():
                    found.append((RunFolder(entry).last.stat().st_mtime, Choice(str(entry.relative_to(root)), entry)))
                elif is_hub_folder(entry):
                    found.append((entry.stat().st_mtime, Choice(str(entry.relative_to(root)), entry)))
                elif level < depth:
                    visit(entry, level + 1)
            elif entry.suffix == ".safetensors" and entry.is_file():
                found.append((entry.stat().st_mtime, Choice(str(entry.relative_to(root)), entry)))

    visit(root, 1)
    return [choice for _, choice in sorted(found, key=lambda item: -item[0])]


class Gallery:
    """The page's logic: the generators under one runs folder, loaded on first use."""

    def __init__(self, root: Path, device: str = "cpu"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise UsageError(f"runs folder {self.root} does not exist; train a model first or pass --runs-dir")
        self.choices = {choice.label: choice for choice in scan(self.root)}
        if not self.choices:
            raise UsageError(f"no run with a checkpoint and no exported model under {self.root}; train one first, "
                             "e.g. 'ganzoo train acgan --recipe mnist'")
        self.device = device
        self._loaded: dict[str, Any] = {}

    @property
    def labels(self) -> list[str]:
        return list(self.choices)

    def loaded(self, label: str):
        """The generator behind a label, loaded once."""
        if label not in self.choices:  # only what the scan found: never a path from the request
            raise UsageError(f"{label!r} is not a generator under {self.root}")
        if label not in self._loaded:
            self._loaded[label] = load(self.choices[label].path, device=self.device)
        return self._loaded[label]

    def classes(self, label: str) -> list[str]:
        """The class choices of a generator: its class names, or none for an unconditional one."""
        generator = self.loaded(label)
        return list(generator.class_names) if generator.conditional else []

    def describe(self, label: str) -> str:
        generator = self.loaded(label)
        kind = "conditional" if generator.conditional else "unconditional"
        return (f"{generator.model}, step {generator.step}, {kind}, {generator.weights} weights, "
                f"trained on {generator.settings.get('dataset')}")

    def render(self, label: str, class_name: str | None, seed: int, n: int, truncation: float,
               seed_to: int) -> tuple[Any, Any]:
        """(a grid of ``n`` samples, a walk from ``seed`` to ``seed_to``) as PIL images."""
        seed, seed_to = check_seed(seed), check_seed(seed_to, "the seed to walk to")
        generator = self.loaded(label)
        n = max(1, min(int(n), MAX_IMAGES))
        psi = None if truncation is None or float(truncation) >= 1.0 else float(truncation)
        chosen = class_name if generator.conditional and class_name else None
        if generator.conditional and chosen is None:
            chosen = generator.class_names[0]
        images = generator.sample(chosen, n=n, seed=seed, truncation=psi)
        walk = interpolation_grid(generator.generator, generator.class_names, seeds=[seed, seed_to],
                                  steps=WALK_STEPS, mode="spherical", class_spec=chosen, across_classes=False,
                                  device=generator.device, truncation=psi)
        grid = tile(images, nrow=min(8, n), padding=2, pad_value=255)
        strip = tile(walk[0], nrow=walk.shape[1], padding=2, pad_value=255)
        return to_pil(grid), to_pil(strip)


def build_app(gallery: Gallery):
    """The Gradio page over ``gallery``."""
    import gradio as gr  # the optional extra ganzoo[ui]

    first = gallery.labels[0]
    with gr.Blocks(title="ganzoo") as app:
        gr.Markdown("# ganzoo\nSamples from the generators under `" + str(gallery.root) + "`.")
        with gr.Row():
            choice = gr.Dropdown(gallery.labels, value=first, label="generator", elem_id="generator")
            info = gr.Textbox(gallery.describe(first), label="about it", interactive=False)
        with gr.Row():
            classes = gallery.classes(first)
            class_name = gr.Dropdown(classes, value=classes[0] if classes else None, label="class",
                                     interactive=bool(classes), elem_id="class")
            seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="seed", elem_id="seed")
            seed_to = gr.Number(1, precision=0, minimum=0, maximum=MAX_SEED, label="walk to seed", elem_id="seed-to")
            n = gr.Slider(1, MAX_IMAGES, value=16, step=1, label="images", elem_id="n")
            truncation = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="truncation psi (1: none)",
                                   elem_id="truncation")
        button = gr.Button("Sample", variant="primary", elem_id="sample")
        grid = gr.Image(label="samples", type="pil", elem_id="samples", format="png")
        walk = gr.Image(label="latent walk", type="pil", elem_id="walk", format="png")

        def switched(label: str):
            names = gallery.classes(label)
            return (gr.update(choices=names, value=names[0] if names else None, interactive=bool(names)),
                    gallery.describe(label))

        def render(*inputs):
            try:
                return gallery.render(*inputs)
            except GanzooError as exc:  # the page shows ganzoo's line, not Gradio's bare "Error"
                raise gr.Error(str(exc)) from None

        choice.change(switched, inputs=choice, outputs=[class_name, info])
        button.click(render, inputs=[choice, class_name, seed, n, truncation, seed_to], outputs=[grid, walk],
                     api_name="render")
    return app


EVERY_ADDRESS = ("0.0.0.0", "::", "")


def check_address(host: str, port: int) -> None:
    """Refuse, in words, an address the page cannot listen on: a host that does not
    resolve or is not this machine's, a port another program holds (Gradio's own errors
    blame the port, or name its environment variable)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host {host!r} is neither an address nor a name that resolves "
                         f"({getattr(exc, 'strerror', None) or exc})") from None
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {host} is in use by another program; pick another with --port") \
                    from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise UsageError(f"--host {host} is not an address of this machine") from None
            raise UsageError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None


def serve(root: Path, *, host: str = "127.0.0.1", port: int = 7860, device: str = "cpu", open_browser: bool = False):
    """Build the page and serve it until interrupted."""
    try:
        import gradio  # noqa: F401  # the optional extra ganzoo[ui]: refused in one line when missing
    except ImportError:
        raise UsageError("ganzoo ui needs Gradio: pip install 'ganzoo[ui]'") from None
    check_address(host, port)
    if host in EVERY_ADDRESS:
        print(f"ganzoo: serving on every network address of this machine (--host {host or '0.0.0.0'}): anyone who "
              f"can reach port {port} can use the page", file=sys.stderr)
    gallery = Gallery(root, device=device)
    app = build_app(gallery)
    app.launch(server_name=host, server_port=port, inbrowser=open_browser, share=False, show_error=True)
