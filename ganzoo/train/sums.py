"""The named values a training step returns, summed on the device between metrics lines."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import GanzooError
from . import distributed
from .distributed import Context


class MetricSums:
    """Named step values summed on the device in one fixed-size buffer; a name gets its
    slot the first time a step returns it (before any CUDA-graph capture)."""

    CAPACITY = 32

    def __init__(self, device: torch.device):
        self.values = torch.zeros(self.CAPACITY, device=device)
        self.names: list[str] = []
        self.steps = 0

    def add(self, metrics: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, value in metrics.items():
                if name not in self.names:
                    if len(self.names) == self.CAPACITY:
                        raise GanzooError(f"a training step logs more than {self.CAPACITY} values")
                    self.names.append(name)
                slot = self.names.index(name)
                self.values[slot] += value.detach().float()

    def used(self) -> torch.Tensor:
        return self.values[: len(self.names)]

    def finite(self) -> bool:
        return bool(torch.isfinite(self.used()).all())

    def means(self, context: Context) -> dict[str, float]:
        """The interval's mean of each value over its steps (and ranks): one host read."""
        averaged = distributed.mean_over_ranks(self.used() / max(self.steps, 1), context)
        return dict(zip(self.names, averaged.tolist()))

    def reset(self) -> None:
        self.values.zero_()
        self.steps = 0

    def state_dict(self, context: Context | None = None) -> dict[str, Any]:
        """The partial log interval. Given the run's ``context`` under torchrun (every rank
        calls this then), the sums are averaged over the ranks: every rank resumes from
        them, and the mean of (averaged old + own new) sums is the interval's mean."""
        sums = self.used()
        if context is not None:
            sums = distributed.mean_over_ranks(sums, context)
        return {"metric_names": list(self.names), "metric_sums": sums.cpu(), "metric_steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The partial log interval of a checkpoint. A ganzoo 0.1 checkpoint kept its sums by
        position under other names: its partial interval is dropped (the next metrics line
        averages fewer steps), which changes no weight."""
        self.reset()
        self.names = []
        if "metric_names" not in state:
            return
        self.names = list(state["metric_names"])
        self.values[: len(self.names)].copy_(state["metric_sums"])
        self.steps = int(state["metric_steps"])
