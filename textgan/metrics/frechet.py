"""The Fréchet distance between two Gaussians, shared by FED (text) and FID (images).

    d² = |mu1 - mu2|² + tr(Σ1) + tr(Σ2) - 2 tr((Σ1 Σ2)^½)

Why not `scipy.linalg.sqrtm(Σ1 Σ2)` as pytorch-fid does: it is slow, can return complex or
inaccurate results when a covariance is (near-)singular (fewer samples than dimensions), and its
`disp` argument is gone from newer SciPy. Only the trace is needed, and tr((Σ1 Σ2)^½) is the sum of
the square roots of the eigenvalues of Σ1 Σ2. Those equal the eigenvalues of the symmetric PSD
matrix Σ1^½ Σ2 Σ1^½, which `eigh` computes stably. Eigenvalues below the numerical-rank threshold
(d · eps · largest, as `numpy.linalg.matrix_rank` uses) are round-off of exact zeros and are set to
zero: the square root would otherwise blow their ~1e-16 noise up to ~1e-8 each, which on a
rank-deficient covariance (fewer samples than dimensions) costs ~1e-7 relative accuracy.
Everything runs in float64.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _sqrt_eigenvalues(values: np.ndarray) -> np.ndarray:
    """Square roots of a PSD matrix's computed eigenvalues, those within round-off of zero -> 0."""
    threshold = len(values) * np.finfo(np.float64).eps * float(np.abs(values).max(initial=0.0))
    return np.sqrt(np.where(values > threshold, values, 0.0))


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric PSD matrix."""
    values, vectors = np.linalg.eigh(sigma)
    return (vectors * _sqrt_eigenvalues(values)) @ vectors.T


def _as_stats(mu: ArrayLike, sigma: ArrayLike, which: int) -> tuple[np.ndarray, np.ndarray]:
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise ValueError(f"mu{which} must be (d,) and sigma{which} (d, d); got {mu.shape} and {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"mu{which} or sigma{which} has non-finite values")
    return mu, (sigma + sigma.T) / 2  # symmetrise away round-off


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2), float64."""
    mu1, sigma1 = _as_stats(mu1, sigma1, 1)
    mu2, sigma2 = _as_stats(mu2, sigma2, 2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"the two Gaussians have different dimensions: {len(mu1)} and {len(mu2)}")
    root1 = _psd_sqrt(sigma1)
    trace_sqrt = float(_sqrt_eigenvalues(np.linalg.eigvalsh(root1 @ sigma2 @ root1)).sum())
    diff = mu1 - mu2
    distance = float(diff @ diff) + float(np.trace(sigma1)) + float(np.trace(sigma2)) - 2.0 * trace_sqrt
    return max(distance, 0.0)


def gaussian_stats(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) in float64 of features (n, d), n >= 2, as pytorch-fid."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (n, d) with at least 2 rows, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)
