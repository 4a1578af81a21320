"""Capturing a whole training step in a CUDA graph and replaying it."""

from __future__ import annotations

from typing import Callable

import torch


class GraphedStep:
    """One training step captured in a CUDA graph, replayed on fixed input buffers.

    ``step_fn(index, z, fake_labels)`` must do the whole step (forward, backward, both
    optimizer steps, metric sums) reading its inputs only from the tensors given. Capture
    needs a few warm-up steps, which would change the weights: the model and optimizer
    state is saved before and copied back in place afterwards, so the run's trajectory is
    the one eager execution would take.
    """

    WARMUP_STEPS = 3

    def __init__(self, step_fn: Callable[..., None], inputs: tuple[torch.Tensor, ...], state: list[torch.Tensor]):
        self.inputs = inputs
        saved = [t.detach().clone() for t in state]
        rng = torch.cuda.get_rng_state()
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(self.WARMUP_STEPS):
                    step_fn(*inputs)
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                step_fn(*inputs)
        finally:  # captured or not, training goes on from the state it had
            torch.cuda.synchronize()
            with torch.no_grad():
                for tensor, copy in zip(state, saved):
                    tensor.copy_(copy)
            torch.cuda.set_rng_state(rng)

    def __call__(self, *values: torch.Tensor) -> None:
        for buffer, value in zip(self.inputs, values):
            buffer.copy_(value, non_blocking=True)
        self.graph.replay()


def prepare_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Create Adam's state now (as zeros, like its lazy first step would), so it can be
    saved before graph capture and so capture never allocates it."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if all(p in optimizer.state for p in params):
        return
    for p in params:
        p.grad = torch.zeros_like(p)
    lrs = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] = 0.0
    optimizer.step()  # zero gradients and zero lr: the weights do not move
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    with torch.no_grad():
        for state in optimizer.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    value.zero_()
    for p in params:
        p.grad = None


def training_state(modules: list[torch.nn.Module], optimizers: list[torch.optim.Optimizer]) -> list[torch.Tensor]:
    """Every tensor a training step changes: parameters, buffers, optimizer state."""
    tensors: list[torch.Tensor] = []
    for module in modules:
        tensors.extend(module.parameters())
        tensors.extend(module.buffers())
    for optimizer in optimizers:
        for state in optimizer.state.values():
            tensors.extend(v for v in state.values() if isinstance(v, torch.Tensor))
    return tensors
