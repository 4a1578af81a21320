"""How an evaluation is made, in one typed object: what ``ganzoo evaluate`` and ``ganzoo
leaderboard`` take as options and ``ganzoo.api.evaluate`` as keywords. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EvaluationOptions:
    """* ``n_per_class``: generated images per class (``--n``); ``fid_n``: generated
      images of the Inception metrics;
    * ``metrics``: comma-separated metric names, or None / ``all``;
    * ``seed``: the noise seed of the generated images;
    * ``real_split``: the real images every metric compares against, ``test`` (or a
      held-out tenth of train where there is no test split) or ``train``;
    * ``data_dir``: the data folder (default: the one the run recorded);
    * ``out``: the report (or leaderboard) folder; ``force``: overwrite one there;
    * ``device``, ``progress``."""

    n_per_class: int = 1000
    fid_n: int = 10000
    metrics: str | None = None
    seed: int = 0
    real_split: str = "test"
    data_dir: Path | None = None
    out: Path | None = None
    device: str = "auto"
    force: bool = False
    progress: bool = True
