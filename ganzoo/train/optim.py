"""The default optimiser of G and D: Adam, in the flavour the speed plan asks for."""

from __future__ import annotations

from typing import Any

import torch

from ..speed import SpeedPlan


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
