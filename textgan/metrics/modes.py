"""Mode-collapse metrics for 2-D Gaussian mixtures, with the definitions of PacGAN/VEEGAN.

A sample is *high quality* when it lies within 3 standard deviations of its nearest centre; a mode is
*covered* when it is the nearest centre of at least one high-quality sample. `mode_kl` is the KL
divergence from the histogram of samples over their nearest modes (all samples) to the uniform
distribution over modes: 0 for perfect balance, log(K) when everything falls on one mode.
"""

from __future__ import annotations

import numpy as np


def mode_metrics(samples: np.ndarray, centres: np.ndarray, std: float) -> dict[str, float]:
    """`modes_covered`, `high_quality_fraction` (0..1) and `mode_kl` of (n, 2) samples."""
    samples = np.asarray(samples, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    dist = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=-1)
    nearest = dist.argmin(axis=1)
    high_quality = dist[np.arange(len(samples)), nearest] <= 3 * std
    covered = np.unique(nearest[high_quality])
    counts = np.bincount(nearest, minlength=len(centres)).astype(np.float64)
    p = counts / counts.sum()
    nonzero = p > 0
    kl = float(np.sum(p[nonzero] * np.log(p[nonzero] * len(centres))))
    return {
        "modes_covered": float(len(covered)),
        "high_quality_fraction": float(high_quality.mean()),
        "mode_kl": kl,
    }
