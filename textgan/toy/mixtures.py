"""The 2-D Gaussian mixtures of the toy game: `ring` (8 centres on the unit circle) and `grid`
(centres at {-4,-2,0,2,4}²), with their default standard deviations."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

DEFAULT_STD = {"ring": 0.01, "grid": 0.05}


def mixture_centres(mixture: str) -> np.ndarray:
    """The mode centres. The ring uses 2πk/8 for k = 0..7: `linspace(0, 2π, 8)` would repeat the
    first centre as the last and leave only 7 distinct modes."""
    if mixture == "ring":
        angles = 2 * np.pi * np.arange(8) / 8
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.array([(x, y) for x in axis for y in axis])


def sample_mixture(centres: np.ndarray, std: float, n: int, generator: torch.Generator) -> Tensor:
    """n points: a uniformly chosen centre plus isotropic Gaussian noise."""
    c = torch.as_tensor(centres, dtype=torch.float32)
    which = torch.randint(len(c), (n,), generator=generator)
    return c[which] + std * torch.randn(n, 2, generator=generator)
