"""The shared Fréchet distance against pytorch-fid's formula and against exact values."""

import numpy as np
import pytest
import scipy.linalg

from textgan.metrics import frechet_distance, gaussian_stats


def pytorch_fid_formula(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's `calculate_frechet_distance`, float64 SciPy sqrtm of Σ1 Σ2."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("seed", range(10))
def test_equals_pytorch_fid_on_well_conditioned_inputs(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 40))
    x = rng.normal(size=(5 * d, d))
    y = rng.normal(size=(5 * d, d)) * rng.uniform(0.5, 2.0) + rng.normal(size=d)
    stats = (*gaussian_stats(x), *gaussian_stats(y))
    # measured agreement ~3e-15; 1e-10 relative leaves room for other BLAS builds
    assert frechet_distance(*stats) == pytest.approx(pytorch_fid_formula(*stats), rel=1e-10)


def rotated_diagonal(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    return q @ np.diag(values) @ q.T


@pytest.mark.parametrize(("d", "rank1", "rank2"), [(50, 10, 5), (120, 30, 60), (20, 20, 3)])
def test_exact_on_rank_deficient_covariances(d, rank1, rank2):
    """Commuting covariances (shared eigenvectors): d² = |mu1-mu2|² + Σ (√a_i - √b_i)², exactly."""
    rng = np.random.default_rng(d)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    a = np.r_[rng.uniform(0.1, 2, rank1), np.zeros(d - rank1)]
    b = np.r_[rng.uniform(0.1, 2, rank2), np.zeros(d - rank2)]
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    exact = float((mu1 - mu2) @ (mu1 - mu2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    ours = frechet_distance(mu1, rotated_diagonal(a, q), mu2, rotated_diagonal(b, q))
    assert np.isfinite(ours)
    assert ours == pytest.approx(exact, rel=1e-12)  # measured ~5e-16; SciPy's sqrtm misses by ~5e-8 here


def test_fewer_samples_than_dimensions():
    rng = np.random.default_rng(0)
    mu, sigma = gaussian_stats(rng.normal(size=(10, 64)))  # rank 9
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-12)
    other = gaussian_stats(rng.normal(size=(10, 64)) + 1.0)
    assert np.isfinite(frechet_distance(mu, sigma, *other)) and frechet_distance(mu, sigma, *other) > 64


def test_one_dimension_is_the_closed_form():
    # d² = (m1 - m2)² + (s1 - s2)² for standard deviations s1, s2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)


def test_gaussian_stats_are_unbiased_float64():
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]], dtype=np.float32)
    mu, sigma = gaussian_stats(x)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, [2.0, 4.0])
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64).T))


@pytest.mark.parametrize("call", [
    lambda: frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3)),
    lambda: frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2)),
    lambda: frechet_distance([np.nan, 0.0], np.eye(2), np.zeros(2), np.eye(2)),
    lambda: gaussian_stats(np.zeros((1, 4))),
])
def test_bad_shapes_and_values_are_rejected(call):
    with pytest.raises(ValueError):
        call()
