"""What the machine is and how the process uses its memory: the CPU's feature flags (is
bf16 native, are there AMX tiles) and glibc's malloc told to keep freed blocks.
docs/performance.md has the measurements behind each choice."""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from pathlib import Path


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    if not sys.platform.startswith("linux"):
        return frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 in hardware (AVX512-BF16 or AMX); Linux only."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_has_amx_bf16() -> bool:
    """True when the CPU has AMX tiles for bf16 (Sapphire Rapids and later Xeons); Linux only."""
    return "amx_bf16" in cpu_flags()


# glibc's malloc serves large blocks with mmap and hands them back to the OS when they are
# freed (or trims the heap), so each step would fault its big tensors in anew, zeroed page
# by page (docs/performance.md, "keep_freed_memory").
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_BELOW = 1 << 30  # bytes: blocks up to this size come from (and return to) the heap


@functools.lru_cache(maxsize=1)
def glibc() -> ctypes.CDLL | None:
    """The C library where it is glibc (whose ``mallopt`` ganzoo tunes), else None."""
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return None
        return ctypes.CDLL("libc.so.6")
    except (AttributeError, ValueError, OSError):  # no confstr name, no such library
        return None


def keep_freed_memory() -> int:
    """Make glibc's malloc keep freed blocks in the process for the next step instead of
    unmapping them (the whole process, for its lifetime). Returns the largest block size
    kept, in bytes (older glibc caps it at 32 MiB), 0 where it did not take. Peak memory is
    unchanged: the blocks are the step's own."""
    libc = glibc()
    if libc is None:
        return 0
    for kept in (KEEP_BELOW, 32 << 20):
        if libc.mallopt(M_MMAP_THRESHOLD, kept) and libc.mallopt(M_TRIM_THRESHOLD, KEEP_BELOW):
            return kept
    return 0
