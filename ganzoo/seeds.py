"""What a seed may be: one range for a training's ``seed`` and every ``--seed``.

Without torch, so that the command line's options can name the range before it loads.
"""

from __future__ import annotations

import operator
from typing import Any

from .errors import UsageError

MAX_SEED = 2**62 - 1  # torch takes seeds below 2**63; a training adds small offsets (seed + 1, one per rank)


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` when it is a whole number from 0 to :data:`MAX_SEED`, else a one-line error."""
    try:
        whole = None if isinstance(seed, bool) else operator.index(seed)  # numpy's integers too
    except TypeError:
        whole = None
    if whole is None or not 0 <= whole <= MAX_SEED:
        raise UsageError(f"{name} must be a whole number from 0 to {MAX_SEED} (2**62 - 1), got {seed!r}")
    return whole
