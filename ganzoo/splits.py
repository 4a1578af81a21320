"""The real images an evaluation compares against, by name: a dataset's test split, or
without one every 10th image of each class of its training split, or (``--real-split
train``) the whole training split. Torch-free: reports and the command line name them."""

from __future__ import annotations

from typing import Any

from .errors import UsageError

HELD_OUT_EVERY = 10  # without a test split, every 10th image of each class is held out
HELD_OUT_SPLIT = "held-out tenth of train"  # the split's name in reports
REAL_SPLITS = ("test", "train")  # what an evaluation may compare against (``--real-split``)


def check_real_split(real_split: str) -> None:
    if real_split not in REAL_SPLITS:
        raise UsageError(f"--real-split must be {' or '.join(REAL_SPLITS)}, got {real_split!r}")


def real_split_name(split: dict[str, Any] | None) -> str:
    """What the real side of a report or leaderboard is, in words."""
    if split and split.get("split") == HELD_OUT_SPLIT:
        return "the held-out real images (every 10th of each class: the data have no test split)"
    if split and split.get("split") == "train":
        return "the real training split"
    return "the real test split"
