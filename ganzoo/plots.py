"""Figures drawn with matplotlib (its Agg backend: no screen): the loss curves of a run,
which its folder and its evaluation reports show."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # start-up: pyplot loads a backend (0.3 s), and only figures need it

    return plt


def loss_curves(ax: Any, history: list[dict[str, Any]]) -> None:
    """D and G loss (and any other logged loss or penalty) against the step."""
    steps = [m["step"] for m in history]
    names = [k for k in history[-1] if k.startswith(("d_", "g_")) and k != "d_class_accuracy"]
    labels = {"d_loss": "D loss", "g_loss": "G loss"}
    for name in names:
        ax.plot(steps, [m.get(name, math.nan) for m in history], label=labels.get(name, name))
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    ax.legend()


def save_loss_curve(history: list[dict[str, Any]], path: Path) -> None:
    """The losses of ``history`` (metrics lines) against the step, as a PNG at ``path``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    loss_curves(ax, history)
    ax.set_ylabel("loss")
    ax.set_title("Training losses")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
