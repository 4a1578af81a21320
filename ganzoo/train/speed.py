"""Speed switches of the trainer: precision, memory format, the fused upsampling, the split
narrow convolutions, the optimizer flavour, CUDA graphs.

Each decision is made once per run from the recipe (``precision``, ``channels_last``,
``fused_upsample``, ``winograd_upsample``, ``narrow_conv``, ``cuda_graph``) and the
hardware, and written into the run's metrics so a reader knows which path produced a
number. See docs/performance.md for the measurements.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

import torch

from ..errors import UsageError
from .cores import shares_by_default


@dataclass(frozen=True)
class SpeedPlan:
    """What the trainer does for speed on this device, decided from the recipe."""

    device: torch.device
    amp_dtype: torch.dtype | None  # None: plain fp32
    channels_last: bool
    cuda_graph: bool
    fused_upsample: bool = False
    narrow_conv: bool = False
    winograd_upsample: bool = False
    keep_freed_memory: bool = False
    share_cores: bool = False

    @property
    def precision(self) -> str:
        return "bf16" if self.amp_dtype == torch.bfloat16 else "fp32"

    def autocast(self, *, for_graph: bool = False) -> ContextManager[Any]:
        if self.amp_dtype is None:
            return nullcontext()
        # Inside a CUDA graph capture autocast's weight-cast cache must be off.
        return torch.autocast(self.device.type, dtype=self.amp_dtype, cache_enabled=not for_graph)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def describe(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "channels_last": self.channels_last,
            "fused_upsample": self.fused_upsample,
            "narrow_conv": self.narrow_conv,
            "winograd_upsample": self.winograd_upsample,
            "cuda_graph": self.cuda_graph,
            "keep_freed_memory": self.keep_freed_memory,
            "share_cores": self.share_cores,
            # A CPU run's speed depends on how many threads it had (OMP_NUM_THREADS)
            **({"cpu_threads": torch.get_num_threads()} if self.device.type == "cpu" else {}),
        }


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


# The bf16 training step against the fp32 one (docs/performance.md, "The CPU kinds"):
# where bf16 is emulated, 25.7 against 382.4 images/s (oneDNN, MKL and ATen held to AVX2);
# with AVX512-BF16 but no AMX (an Intel Xeon, model 207, whose VM hides AMX), 448.5
# against 649.3 (that bf16 with the to-image convolution split; without it, as auto
# leaves bf16 now, slower still).
EMULATED_BF16_SLOWDOWN = "15x"
NO_AMX_BF16_SLOWDOWN = "1.45x"


def slow_bf16_note(plan: SpeedPlan) -> str | None:
    """One line for a CPU run that asked for bf16 where fp32 is faster (no AMX)."""
    if plan.device.type != "cpu" or plan.amp_dtype is None or cpu_has_amx_bf16():
        return None
    if cpu_has_native_bf16():
        return (f"ganzoo: precision bf16 on a CPU with AVX512-BF16 but no AMX: measured at least "
                f"{NO_AMX_BF16_SLOWDOWN} slower than fp32 there; --set precision=fp32 (or auto) is faster")
    return (f"ganzoo: precision bf16 on a CPU without native bf16 (no AVX512-BF16 or AMX): it is emulated, "
            f"about {EMULATED_BF16_SLOWDOWN} slower than fp32 (measured); --set precision=fp32 (or auto) is faster")


# glibc's malloc serves large blocks with mmap and hands them back to the OS when they are
# freed (or trims the heap), so each step faults its big tensors in anew, zeroed page by
# page: measured about 7,000 page faults per ACGAN step at batch 64 on the CPU, and the
# step 6-10% slower than with the blocks kept (docs/performance.md).
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


def _switch(settings: dict[str, Any], key: str, auto: bool) -> bool:
    """A switch setting (``auto``, ``on`` or ``off``) resolved, ``auto`` to ``auto``."""
    value = settings.get(key, "auto")
    return auto if value == "auto" else value == "on"


def plan_speed(settings: dict[str, Any], device: torch.device) -> SpeedPlan:
    """Resolve ``precision``, ``channels_last``, ``fused_upsample``, ``winograd_upsample``,
    ``narrow_conv``, ``cuda_graph``, ``keep_freed_memory`` and ``share_cores`` for ``device``."""
    precision = settings.get("precision", "auto")
    if precision == "auto":
        if device.type == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        else:
            # bf16 pays on the CPU only with AMX (3.7-4.2x the reference loop on the AMX Xeon,
            # fp32 1.6-1.9x there); with AVX512-BF16 alone it is slower than fp32, emulated
            # far slower.
            precision = "bf16" if cpu_has_amx_bf16() else "fp32"
    amp_dtype = torch.bfloat16 if precision == "bf16" else None

    # Measured (docs/performance.md): channels-last makes the bf16 CPU step ~1.5x faster
    # and the fp32 one 5-32% for every built-in model (AVX-512; acgan's 13% with oneDNN
    # held to AVX2).
    channels_last = _switch(settings, "channels_last", auto=device.type in ("cpu", "cuda"))

    # Measured (docs/performance.md): fused, the fp32 CPU step is ~1.9x faster (the
    # transposed form); the bf16 channels-last step (the phase form) ~1.25x on the AMX
    # CPU and ~1.3x on an H200 at batch 1024. bf16 in NCHW would get the slow bf16
    # transposed convolution (oneDNN's on AMX): auto leaves that plain.
    fused_upsample = _switch(settings, "fused_upsample", auto=amp_dtype is None or channels_last)

    # Measured on the CPU (ACGAN's 64 -> 1 to-image convolution at batch 64, forward +
    # backward): fp32 channels-last 7.2 -> 3.7 ms with oneDNN held to AVX2, 7.4 -> 2.8 with
    # AVX-512 (bf16 channels-last 15.6 -> 5.5 with AVX512-BF16). Not measured on a GPU or
    # with AMX, so auto is fp32 on the CPU: the AMX bf16 path stays as it was measured.
    narrow_conv = _switch(settings, "narrow_conv", auto=device.type == "cpu" and amp_dtype is None)

    # The fused upsampling in fp32 channels-last on the CPU: Winograd's 9 products per
    # input pixel instead of the phase form's 16 (ganzoo.blocks.UpsampleConv2d). Measured
    # with oneDNN at AVX2, forward + backward at batch 64: 71.6 -> 54.5 ms (28x28 layer),
    # 39.6 -> 25.4 ms (14x14). Not measured in bf16 or on a GPU: those keep the phase form.
    winograd_upsample = _switch(settings, "winograd_upsample", auto=amp_dtype is None and device.type == "cpu")
    winograd_upsample = winograd_upsample and fused_upsample and channels_last  # its only place

    graph = settings.get("cuda_graph", "auto")
    if graph == "on" and device.type != "cuda":
        raise UsageError("cuda_graph=on needs a CUDA device; use auto or off on the CPU")
    cuda_graph = device.type == "cuda" and graph != "off"
    if device.type == "cuda":
        # The shapes never change within a run: let cuDNN time its algorithms once and
        # keep the fastest (picked during the warm-up, before any graph capture).
        torch.backends.cudnn.benchmark = True

    keep = _switch(settings, "keep_freed_memory", auto=device.type == "cpu" and glibc() is not None)
    if keep and glibc() is None:
        raise UsageError("keep_freed_memory=on needs glibc's malloc (Linux); use auto or off here")

    # Measured (docs/performance.md): two trainings with two threads each on 2 cores ran
    # 4.3x slower than one alone, one-thread ones not at all. Threads a user set
    # (OMP_NUM_THREADS; torchrun sets 1) are theirs to keep.
    share_cores = _switch(settings, "share_cores", auto=shares_by_default(device))
    return SpeedPlan(device, amp_dtype, channels_last, cuda_graph, fused_upsample, narrow_conv,
                     winograd_upsample, keep, share_cores)


# The speed choices that change a step's rounding (the same functions, other float
# operations), with what keeps a choice on resume; cuda_graph replays eager's operations
# and keep_freed_memory only moves memory, so neither is here.
NUMERIC_SWITCHES = ("channels_last", "fused_upsample", "winograd_upsample", "narrow_conv")


def speed_drift(before: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """How ``now`` (a plan's ``describe()``) computes differently from ``before`` (the one a
    run recorded): ``(key, was, is, what keeps the old)`` per difference. A switch a run did
    not record did not exist when it trained, so it was off; a run with no record at all
    (older than the records) has no known path to compare."""
    if not before:
        return []

    def word(value: Any) -> str:
        return "on" if value is True else "off" if value is False else str(value)

    drift = []
    for key in ("precision", *NUMERIC_SWITCHES):
        was = before.get(key, False if key in NUMERIC_SWITCHES else None)
        if was is not None and now.get(key) is not None and was != now[key]:
            drift.append((key, word(was), word(now[key]), f"--set {key}={word(was)}"))
    if before.get("cpu_threads") and now.get("cpu_threads") and before["cpu_threads"] != now["cpu_threads"]:
        drift.append(("cpu_threads", str(before["cpu_threads"]), str(now["cpu_threads"]),
                      f"OMP_NUM_THREADS={before['cpu_threads']}"))
    return drift


def speed_drift_note(drift: list[tuple[str, str, str, str]]) -> str:
    """One line for a resume whose speed path differs from the one the run trained on."""
    changes = ", ".join(f"{key} {was} -> {now}" for key, was, now, _ in drift)
    keep = " ".join(how for *_, how in drift)
    return (f"ganzoo: resuming on another numeric path than the run trained on ({changes}): the same functions with "
            f"other rounding, so the run goes on but not bit for bit as it would have; {keep} keeps the old path")


def make_adam(params: Any, *, lr: float, betas: Any, plan: SpeedPlan) -> torch.optim.Adam:
    """Adam as the recipe says; fused on CUDA and capturable when the step is graphed
    (then with a tensor learning rate, which a schedule can change between replays)."""
    options: dict[str, Any] = {}
    if plan.device.type == "cuda":
        options["fused"] = True
        options["capturable"] = plan.cuda_graph
        if plan.cuda_graph:
            lr = torch.tensor(float(lr), device=plan.device)
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), **options)
