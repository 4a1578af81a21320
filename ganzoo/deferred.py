"""Heavy imports made on first need, with SIGINT and SIGTERM held while they run: a signal
that lands inside torch's (or torchvision's) import can leave it half-made (seen: a
RecursionError on the next import, the signal lost; or the process dying by SIGINT, exit
-2, not 130). A held signal arrives the moment the import is done."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from types import ModuleType


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the block (in the main thread, where they are delivered)."""
    held = (signal.SIGINT, signal.SIGTERM)
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def optimizer_imports() -> None:
    """What torch imports on a process's first optimiser (``torch._dynamo``, about a
    second), imported here with the signals held: a SIGINT inside it left a half-made
    module ("Error calling __set_name__ on 'cached_property'", an internal error)."""
    if "torch._dynamo" not in sys.modules:
        with signals_deferred():
            import_module("torch._dynamo")


def torchvision(module: str) -> ModuleType:
    """``torchvision.MODULE``, imported on first need (a resize, a download, CIFAR-10): it
    takes a second and more to import, and most runs never need it."""
    with signals_deferred():
        return import_module(f"torchvision.{module}")
