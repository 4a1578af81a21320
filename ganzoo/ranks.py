"""Which process this is under torchrun, from the launcher's environment alone (no torch
import: the command line asks before it knows whether it needs torch at all)."""

from __future__ import annotations

import os


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def process_rank() -> int:
    """This process's rank as the launcher set it (0 when not launched by torchrun)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0
