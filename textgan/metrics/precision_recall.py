"""Improved precision and recall (Kynkäänniemi et al. 2019) from image features.

Each feature set stands for a manifold: the union of balls around its points whose radius is the
distance to the point's k-th nearest neighbour in the same set (k = 3 in the paper). Precision is the
share of generated samples inside the real manifold (quality); recall the share of real samples
inside the generated manifold (coverage). A point on a ball's boundary counts as inside, as in the
paper's code and torch-fidelity. Distances are float64 `torch.cdist`, in row blocks so that memory
stays at block × n.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike


def _radii(x: torch.Tensor, k: int, block: int) -> torch.Tensor:
    """Distance of each row to its k-th nearest other row (the k+1-th smallest, self included)."""
    return torch.cat([torch.cdist(part, x).kthvalue(k + 1, dim=1).values for part in x.split(block)])


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, block: int) -> float:
    """Share of `points` within distance radii[j] of some centres[j]."""
    hits = [(torch.cdist(part, centres) <= radii).any(dim=1) for part in points.split(block)]
    return float(torch.cat(hits).double().mean())


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3, block: int = 1024) -> tuple[float, float]:
    """(precision, recall) of generated features `fake` (m, d) against real features `real` (n, d)."""
    x = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"features must be (n, d) and (m, d), got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(len(x), len(y)) <= k:
        raise ValueError(f"k={k} nearest neighbours need more than {k} samples on each side, "
                         f"got {len(x)} real and {len(y)} generated")
    precision = _inside(y, x, _radii(x, k, block), block)
    recall = _inside(x, y, _radii(y, k, block), block)
    return precision, recall
