"""FID and KID from extracted image features (Heusel et al. 2017; Bińkowski et al. 2018).

FID is the Fréchet distance between Gaussians fitted to the real and the generated features,
computed by the shared float64 `frechet_distance` (eigenvalues of Σ1 Σ2, no `scipy.linalg.sqrtm`).
KID is the unbiased MMD² with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over
random subsets as torch-fidelity does (100 subsets of 1,000 by default, drawn without replacement
from `numpy.random.RandomState(seed)`, real side first), so equal seeds give torch-fidelity's
`kid_features_to_metric(real, fake)`. Where either side has fewer samples than the subset size, the
subsets use as many as the smaller side has and the returned note says so (torch-fidelity refuses
instead); where that is all of both sides, every subset is the same and one MMD² is returned with
standard deviation 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from textgan.metrics.frechet import frechet_distance, gaussian_stats


def _features(x: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"{name} features must be (n, d) with n >= 2, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} features have non-finite values")
    return x


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of features (n, d), in float64, as pytorch-fid."""
    return gaussian_stats(_features(features, "the"))


def fid_from_features(real: ArrayLike, fake: ArrayLike) -> float:
    """FID between two feature sets (n, d) and (m, d): Fréchet distance of their Gaussian fits."""
    real, fake = _features(real, "real"), _features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features differ in dimension: {real.shape[1]} and {fake.shape[1]}")
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² for equal-sized x, y (m, d): diagonals of K_XX, K_YY left out, K_XY kept whole."""
    m = len(x)
    k_xx, k_yy = _polynomial_kernel(x, x), _polynomial_kernel(y, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * _polynomial_kernel(x, y).sum() / (m * m))


def kid_from_features(real: ArrayLike, fake: ArrayLike, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float, str]:
    """KID mean and standard deviation over `subsets` random subsets, and a note ('' when the full
    protocol ran; otherwise what was reduced, for the CLI to print)."""
    real, fake = _features(real, "real"), _features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features differ in dimension: {real.shape[1]} and {fake.shape[1]}")
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"KID needs subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
    size = min(subset_size, len(real), len(fake))
    note = ""
    if size < subset_size:
        note = (f"KID subsets of {size} samples instead of {subset_size}: only {len(real)} real and "
                f"{len(fake)} generated samples")
    if size == len(real) == len(fake):  # every subset is all of both sides: one MMD², no spread
        return _unbiased_mmd2(real, fake), 0.0, note
    rng = np.random.RandomState(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        mmds[i] = _unbiased_mmd2(x, y)
    return float(mmds.mean()), float(mmds.std()), note
