"""The toy game's networks: plain MLPs for both players."""

from __future__ import annotations

from torch import nn


def mlp(n_in: int, hidden: int, layers: int, n_out: int,
        batch_norm: bool, dropout: float = 0.0) -> nn.Sequential:
    """`layers` hidden layers of width `hidden` with ReLU (optionally batch norm, dropout)."""
    blocks: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        blocks.append(nn.Linear(width, hidden))
        if batch_norm:
            blocks.append(nn.BatchNorm1d(hidden))
        blocks.append(nn.ReLU())
        if dropout:
            blocks.append(nn.Dropout(dropout))
        width = hidden
    blocks.append(nn.Linear(width, n_out))
    return nn.Sequential(*blocks)
