"""What ``ganzoo ARGS`` turns into before the command line parses it: ``--resume`` with no
folder after it (the newest run), and ``train ... --nproc-per-node N``, the shortcut that
starts the same training under torchrun in N processes (docs/distributed.md)."""

from __future__ import annotations

import os
import sys

from .errors import UsageError
from .ranks import launched_by_torchrun

NEWEST_RUN = "newest"
TORCHRUN_NPROC_WORDS = ("auto", "cpu", "gpu")


def expand_bare_resume(args: list[str]) -> list[str]:
    """``train MODEL --resume`` with no folder after it means the newest run (click has no
    options with an optional value)."""
    if "train" not in args:
        return args
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--resume" and (i + 1 == len(out) or out[i + 1].startswith("-")):
            out.insert(i + 1, NEWEST_RUN)
            break
    return out


def torchrun_command(args: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """``train ... --nproc-per-node N`` outside torchrun -> the torchrun command that runs
    the same training in N processes, and its environment; None when there is nothing to
    launch."""
    if "train" not in args[:1]:
        return None
    count, rest = None, list(args)
    for i, arg in enumerate(args):
        if arg == "--nproc-per-node" and i + 1 < len(args):
            count, rest = args[i + 1], args[:i] + args[i + 2 :]
            break
        if arg.startswith("--nproc-per-node="):
            count, rest = arg.split("=", 1)[1], args[:i] + args[i + 1 :]
            break
    if count is None or launched_by_torchrun():
        return None
    if not (count.isdigit() and int(count) > 0) and count not in TORCHRUN_NPROC_WORDS:
        raise UsageError(f"--nproc-per-node takes a number of processes or one of {', '.join(TORCHRUN_NPROC_WORDS)}, "
                         f"got {count!r}")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={count}",
               "-m", "ganzoo", *rest]
    threads = threads_per_process(count)
    return command, {**os.environ, **({"OMP_NUM_THREADS": threads} if threads else {})}


def threads_per_process(count: str) -> str | None:
    """``OMP_NUM_THREADS`` for each of the shortcut's processes: the cores this process may
    use, shared evenly, at least 1. torchrun's own default is 1 thread a process (and a
    banner saying so), which leaves all but N cores idle in a CPU training on a larger
    machine. None when the user set it, or the count is a word only torchrun resolves."""
    if os.environ.get("OMP_NUM_THREADS") or count in ("gpu", "auto"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return str(max(1, cores // (cores if count == "cpu" else int(count))))
