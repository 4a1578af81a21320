"""Pinned judges: evaluation classifiers that ship with ganzoo.

A judge trained on each machine from whatever copy of the data it has (a 5,000-image
MNIST subset here, the full set there) makes classifier FIDs that do not compare between
machines. For the datasets the repository can train one on, the judge is trained once by
``tests/bench/train_judges.py`` (ganzoo's own ``train_classifier``, fp32, one thread or
two as its entry says, seed 0) and shipped as a small safetensors file listed in
``judges/manifest.json`` with its hash, the data it learnt from and its test accuracy.
Every machine then measures with the same weights, and no evaluation waits for a judge
to train.

A pinned judge is chosen by dataset name, image shape, class names and classifier
version. An image folder's name says nothing of its pictures, so a judge pinned for one
(the emoji set of the ``emoji`` recipe) is chosen only for the very images it learnt from:
the training split's fingerprint must equal its ``trained_on``. Anything else (another
size, another folder, ``GANZOO_JUDGE_STEPS``) keeps the train-and-cache path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from ..data import ImageData, fingerprint
from ..errors import DataError, first_line
from ..runs.seal import weights_sha256

JUDGES_DIR = Path(__file__).parent / "judges"
MANIFEST = JUDGES_DIR / "manifest.json"


@dataclass(frozen=True)
class PinnedJudge:
    entry: dict[str, Any]

    @property
    def path(self) -> Path:
        return JUDGES_DIR / self.entry["file"]

    def load(self) -> dict[str, torch.Tensor]:
        """The weights, checked against the manifest's hash."""
        try:
            state = load_file(str(self.path))
        except (OSError, RuntimeError, ValueError) as exc:
            raise DataError(f"the pinned judge {self.path} is unreadable ({first_line(exc)}); reinstall ganzoo "
                            "or set GANZOO_JUDGE_STEPS to train one") from None
        if weights_sha256(state) != self.entry["sha256"]:
            raise DataError(f"the pinned judge {self.path} does not match its recorded sha256; reinstall ganzoo "
                            "or set GANZOO_JUDGE_STEPS to train one")
        return state


def manifest() -> list[dict[str, Any]]:
    try:
        return json.loads(MANIFEST.read_text(encoding="utf-8"))["judges"]
    except (OSError, ValueError, KeyError):
        return []


def pinned_judge_for(train: ImageData, version: int) -> PinnedJudge | None:
    """The shipped judge for this dataset, shape and classes (and, for a judge pinned to
    its images, these very images), if there is one."""
    shape = list(train.images.shape[1:])
    contents: dict[str, object] | None = None
    for entry in manifest():
        if not (entry.get("dataset") == train.name and entry.get("shape") == shape and entry.get("version") == version
                and entry.get("class_names") == list(train.class_names)):
            continue
        if entry.get("match") == "contents":
            contents = contents or fingerprint(train)
            if contents != entry.get("trained_on"):
                continue
        return PinnedJudge(entry)
    return None
