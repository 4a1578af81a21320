"""An exponential moving average of the generator's weights (``ema`` setting).

After every step, each EMA parameter moves towards G's: ``ema = beta * ema + (1 - beta)
* g`` with ``beta = min(decay, (1 + t) / (10 + t))``, where ``t`` counts the updates
before this one (the warm-up of TensorFlow's ExponentialMovingAverage, so that the
average does not stay near the random initial weights for the first thousands of steps).
Buffers (BatchNorm's running statistics) are copied from G. The counter is a tensor on
the device, so the update can be captured in a CUDA graph.

Sampling, evaluation, sample grids and export use the EMA weights when a run has them.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class EMA:
    def __init__(self, generator: nn.Module, decay: float):
        self.decay = float(decay)
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)
        self.updates = torch.zeros((), dtype=torch.float32, device=next(generator.parameters()).device)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        beta = torch.clamp((1 + self.updates) / (10 + self.updates), max=self.decay)
        for average, current in zip(self.model.parameters(), generator.parameters()):
            average.lerp_(current.detach(), 1 - beta)
        for average, current in zip(self.model.buffers(), generator.buffers()):
            average.copy_(current)
        self.updates += 1

    def tensors(self) -> list[torch.Tensor]:
        """Everything an update changes (for the CUDA-graph capture's save and restore)."""
        return [*self.model.parameters(), *self.model.buffers(), self.updates]

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.model.state_dict(), "updates": self.updates.detach().cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["weights"])
        self.updates.copy_(state["updates"])
