"""Whose code an exception came from. An error raised in a plugin's own code (its step,
its networks, its hooks) is said to be the plugin's, with the function and the file and
line where it happened, not ganzoo's "internal error"; ``GANZOO_DEBUG=1`` shows the
traceback, and is suggested only when it is not set already."""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

CORE = Path(__file__).resolve().parent  # ganzoo's own package


@dataclass(frozen=True)
class Culprit:
    """The place in a plugin's files where an exception arose (the innermost such frame)."""

    plugin: str
    function: str
    file: str  # from the folder that holds the plugin's module or package
    line: int

    def where(self) -> str:
        return f"in {self.function} at {self.file}:{self.line}"


def debug_hint() -> str:
    """`` (set GANZOO_DEBUG=1 for the traceback)``, or nothing when it is set."""
    return "" if os.environ.get("GANZOO_DEBUG") else " (set GANZOO_DEBUG=1 for the traceback)"


def source_of(plugin: object) -> Path | None:
    """The file or package folder of a plugin object (a module, or an instance or class of
    one), None when it has none (made in a notebook) or it is ganzoo's own code."""
    module = plugin if isinstance(plugin, ModuleType) else sys.modules.get(getattr(plugin, "__module__", "") or "")
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    root = path.parent if path.name == "__init__.py" else path
    return None if _inside(root, CORE) else root


def culprit(exc: BaseException, roots: dict[str, Path]) -> Culprit | None:
    """The plugin (of ``roots``: name -> file or package folder) whose code raised ``exc``:
    going out from the innermost frame, past library code (torch's, numpy's), the first
    frame in a plugin's files blames that plugin; one in ganzoo's own code blames ganzoo
    (None)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename).resolve()
        if _inside(path, CORE):
            return None
        for name, root in roots.items():
            if path == root or _inside(path, root):
                return Culprit(name, frame.name, str(path.relative_to(root.parent)), frame.lineno or 0)
    return None


def _inside(path: Path, folder: Path) -> bool:
    return folder in path.parents
