"""Inception Score (Salimans et al. 2016) from classifier logits, as torch-fidelity computes it.

IS = exp(E_x KL(p(y|x) || p(y))) per split, p(y|x) = softmax(logits), p(y) the split's mean; mean
and standard deviation over `splits` equal consecutive splits (split i holds rows
[i·N // splits, (i+1)·N // splits)), after an optional shuffle by `RandomState(seed).permutation`.
The defaults (10 splits, shuffle, seed 2020) are torch-fidelity's; with the FID Inception its
logits are taken without the fc bias ('logits_unbiased'), which `InceptionV3` returns.
"""

from __future__ import annotations

import numpy as np
import torch


def inception_score(logits: np.ndarray | torch.Tensor, splits: int = 10, *, shuffle: bool = True,
                    seed: int = 2020) -> tuple[float, float]:
    """Mean and standard deviation of the Inception Score over `splits` splits of logits (N, C)."""
    x = torch.as_tensor(logits).detach().to("cpu", torch.float64)
    if x.ndim != 2 or len(x) < splits or splits < 1:
        raise ValueError(f"logits must be (N, C) with N >= splits >= 1; got shape {tuple(x.shape)}, "
                         f"splits={splits}")
    if not torch.isfinite(x).all():
        raise ValueError("logits have non-finite values")
    if shuffle:
        x = x[torch.from_numpy(np.random.RandomState(seed).permutation(len(x)))]
    log_p = x.log_softmax(dim=1)
    n = len(x)
    scores = []
    for i in range(splits):
        chunk = log_p[i * n // splits:(i + 1) * n // splits]
        log_marginal = chunk.exp().mean(dim=0).log()
        kl = (chunk.exp() * (chunk - log_marginal)).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))
