"""Exponential moving average of the generator's weights (used for evaluation and sampling).

Written out rather than taken from `torch.optim.swa_utils.AveragedModel` because the recipe's
`ema_start` needs a plain copy before the averaging begins, and the state must round-trip through
`torch.load(weights_only=True)` as an ordinary state dict.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """θ_ema ← decay·θ_ema + (1 - decay)·θ after every generator step; buffers are copied."""

    def __init__(self, model: nn.Module, decay: float, start_step: int = 0) -> None:
        self.decay = decay
        self.start_step = start_step
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        weight = 0.0 if step <= self.start_step else self.decay
        for ema_p, p in zip(self.module.parameters(), model.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - weight)
        for ema_b, b in zip(self.module.buffers(), model.buffers()):
            ema_b.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
