"""Speed switches of the trainer: precision, memory format, the fused upsampling, the split
narrow convolutions, CUDA graphs, keeping freed memory, sharing the cores.

Each decision is made once per run from the recipe (``precision``, ``channels_last``,
``fused_upsample``, ``winograd_upsample``, ``narrow_conv``, ``cuda_graph``) and the
hardware, and written into the run's metrics so a reader knows which path produced a
number. See docs/performance.md for the measurements.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any, ContextManager

import torch

from .cores import shares_by_default
from .errors import UsageError
from .machine import cpu_has_amx_bf16, cpu_has_native_bf16, glibc


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


# The bf16 training step against the fp32 one, measured where bf16 is emulated and where
# it is native but without AMX (docs/performance.md, "The CPU kinds").
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
            # bf16 pays on the CPU only with AMX; with AVX512-BF16 alone it is slower than
            # fp32, emulated far slower (docs/performance.md, "The CPU kinds").
            precision = "bf16" if cpu_has_amx_bf16() else "fp32"
    amp_dtype = torch.bfloat16 if precision == "bf16" else None

    # Channels-last makes every built-in model's CPU step faster, bf16 and fp32
    # (docs/performance.md, "Speed switches").
    channels_last = _switch(settings, "channels_last", auto=device.type in ("cpu", "cuda"))

    # Fused is faster in fp32 (the transposed form) and in bf16 channels-last (the phase
    # form); bf16 in NCHW would get oneDNN's slow bf16 transposed convolution, so auto
    # leaves that plain (docs/performance.md, "Speed switches").
    fused_upsample = _switch(settings, "fused_upsample", auto=amp_dtype is None or channels_last)

    # Measured faster on the CPU only, and not with AMX: auto is fp32 on the CPU, and the
    # AMX bf16 path stays as it was measured (docs/performance.md, "Speed switches").
    narrow_conv = _switch(settings, "narrow_conv", auto=device.type == "cpu" and amp_dtype is None)

    # The fused upsampling in fp32 channels-last on the CPU: Winograd's 9 products per
    # input pixel instead of the phase form's 16 (ganzoo.blocks.UpsampleConv2d). Not
    # measured in bf16 or on a GPU: those keep the phase form (docs/performance.md).
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

    # Trainings that each take every core slow each other several-fold; threads a user set
    # (OMP_NUM_THREADS; torchrun sets 1) are theirs to keep (docs/performance.md,
    # "Several trainings on one 2-core machine").
    share_cores = _switch(settings, "share_cores", auto=shares_by_default(device))
    return SpeedPlan(device, amp_dtype, channels_last, cuda_graph, fused_upsample, narrow_conv,
                     winograd_upsample, keep, share_cores)


def plan_for_run(settings: dict[str, Any], device: torch.device, *, distributed: bool) -> SpeedPlan:
    """:func:`plan_speed` for a training: under torchrun without a CUDA graph, as DDP's
    all-reduce runs outside the graph."""
    plan = plan_speed(settings, device)
    return replace(plan, cuda_graph=False) if distributed and plan.cuda_graph else plan


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
