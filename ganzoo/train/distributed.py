"""Several processes through PyTorch's own launcher and DistributedDataParallel.

``torchrun --nproc-per-node N -m ganzoo train ...`` starts N copies of ganzoo with the
``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` / ``MASTER_ADDR`` variables set; each copy
finds them here, joins the process group (NCCL on CUDA, gloo on the CPU) and trains one
shard of every global batch. Without those variables everything is a single process and
nothing here does anything.
"""

from __future__ import annotations

import atexit
import gc
import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import UsageError
from ..ranks import launched_by_torchrun


@dataclass(frozen=True)
class Context:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Context()


def init(device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group when launched by torchrun; return the context and this
    rank's device (``cuda:LOCAL_RANK`` when training on CUDA)."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return SINGLE, device
    context = Context(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        if context.local_rank >= torch.cuda.device_count():
            raise UsageError(
                f"local rank {context.local_rank} has no GPU: this node has {torch.cuda.device_count()}; "
                "start at most that many processes per node"
            )
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(minutes=30))
        atexit.register(gc.collect)  # a failed run's trainer too: freed while the interpreter is whole (see finish)
    return context, device


def finish() -> None:
    """The normal end, once the training's objects are out of scope: every rank waits for
    the others (rank 0 may still be writing its checkpoint or report), then the group
    goes, here and now. The DistributedDataParallel wrappers hold the group and sit in
    reference cycles (trainer <-> step), so without the collection they, and the group,
    lived on into the interpreter's exit, and gloo's threads torn down there can abort
    the process ("terminate called without an active exception", exit -6: torchrun
    then reports the run failed; seen in rank 1, rarely, as well as without the wait)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        gc.collect()
        dist.destroy_process_group()


def shutdown() -> None:
    """Leave the group on any path (after finish, nothing is left to do); no waiting, so
    that a rank that failed does not hang on the others."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(value: Any, context: Context) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not context.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value: Any, context: Context) -> list[Any]:
    """Every rank's ``value``, in rank order (a list of one without distribution)."""
    if not context.enabled:
        return [value]
    out: list[Any] = [None] * context.world_size
    dist.all_gather_object(out, value)
    return out


def mean_over_ranks(tensor: torch.Tensor, context: Context) -> torch.Tensor:
    """The mean of ``tensor`` over the ranks (the tensor itself without distribution)."""
    if not context.enabled:
        return tensor
    total = tensor.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / context.world_size


def any_rank(flag: bool, device: torch.device, context: Context) -> bool:
    """True on every rank when ``flag`` is true on at least one."""
    if not context.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def wrap(module: torch.nn.Module, device: torch.device, context: Context) -> torch.nn.Module:
    """``module`` in DistributedDataParallel (itself without distribution). Rank 0's
    weights and buffers are broadcast to the others here and buffers at every forward."""
    if not context.enabled:
        return module
    device_ids = [device.index] if device.type == "cuda" else None
    wrapped = DistributedDataParallel(module, device_ids=device_ids)
    for parameter in module.parameters():
        if 1 in parameter.shape and parameter.dim() > 1:
            warnings.filterwarnings("ignore", message=spurious_stride_warning(parameter), category=UserWarning)
    return wrapped


def spurious_stride_warning(parameter: torch.Tensor) -> str:
    """The pattern of DDP's "Grad strides do not match bucket view strides" warning for a
    gradient of ``parameter`` whose strides differ from the parameter's only in dimensions
    of size 1: the same memory either way (a channels-last ``[1, 64, 3, 3]`` convolution's
    gradient comes back with stride 64 there, not 576), which PyTorch's maintainers call
    spurious (pytorch/pytorch#47163). Any other mismatch still warns."""
    sizes = ", ".join(map(str, parameter.shape))
    strides = parameter.stride()
    grad = ", ".join(r"\d+" if size == 1 else str(stride) for size, stride in zip(parameter.shape, strides))
    return (r"(?s)Grad strides do not match bucket view strides\..*\n"
            rf"grad\.sizes\(\) = \[{sizes}\], strides\(\) = \[{grad}\]\n"
            rf"bucket_view\.sizes\(\) = \[{sizes}\], strides\(\) = \[{', '.join(map(str, strides))}\]")


def layer_seed(seed: int, context: Context) -> int:
    """The seed of torch's global generator (dropout and other layer randomness) on this
    rank after the model is built: rank 0 keeps the run's stream, rank r > 0 starts
    from ``seed + 100003 * r``, so ranks differ and every run repeats."""
    return seed + 100003 * context.rank
