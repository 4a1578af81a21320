"""One line for a long, quiet wait: with ``--quiet`` a pass that is still running after a
few seconds says what it is doing, once, instead of leaving the terminal silent."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

QUIET_NOTICE_AFTER_S = 5.0


@contextmanager
def said_if_slow(what: str, quiet: bool, after: float = QUIET_NOTICE_AFTER_S) -> Iterator[None]:
    """When ``quiet``, print ``ganzoo: WHAT ...`` on stderr if the block is still running
    after ``after`` seconds (a progress bar says it otherwise)."""
    if not quiet:
        yield
        return
    timer = threading.Timer(after, lambda: print(f"ganzoo: {what} ...", file=sys.stderr, flush=True))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
