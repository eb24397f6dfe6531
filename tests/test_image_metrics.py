"""Image metrics against their reference implementations: pytorch-fid's Fréchet formula (SciPy
sqrtm, float64), torch-fidelity's KID / IS / precision-recall definitions (written out below:
torch-fidelity cannot be imported here, it needs torchvision) and scikit-image's SSIM / PSNR."""

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from textgan.metrics import (
    feature_statistics,
    fid_from_features,
    frechet_distance,
    inception_score,
    kid_from_features,
    precision_recall,
    psnr,
    ssim,
)


def pytorch_fid_formula(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's `calculate_frechet_distance` in float64 SciPy (sqrtm of Σ1 Σ2)."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def random_covariance(rng, d, rank):
    a = rng.normal(size=(d, rank)) * rng.uniform(0.2, 3.0, size=rank)
    return a @ a.T / rank


@pytest.mark.parametrize(("d", "rank1", "rank2"), [(16, 16, 16), (40, 40, 12), (64, 20, 30), (30, 5, 5)])
def test_frechet_distance_equals_pytorch_fid_formula(d, rank1, rank2):
    rng = np.random.default_rng(d + rank1 + rank2)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d) * 0.3
    sigma1, sigma2 = random_covariance(rng, d, rank1), random_covariance(rng, d, rank2)
    # issue 5: 1e-6 relative; measured 3e-14 full rank, <= 3e-8 rank-deficient (SciPy sqrtm round-off)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(
        pytorch_fid_formula(mu1, sigma1, mu2, sigma2), rel=1e-6)


def test_fid_from_features_is_frechet_of_feature_statistics():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(50, 24)).astype(np.float32)
    fake = rng.normal(size=(30, 24)) * 1.5 + 0.2
    mu, sigma = feature_statistics(real)
    assert mu.dtype == sigma.dtype == np.float64 and sigma.shape == (24, 24)
    reference = pytorch_fid_formula(*feature_statistics(real), *feature_statistics(fake))
    assert fid_from_features(real, fake) == pytest.approx(reference, rel=1e-6)
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-9)


def torch_fidelity_mmd2(k_xx, k_xy, k_yy):
    """torch-fidelity `metric_kid.mmd2`, mmd_est='unbiased', unit_diagonal=False."""
    m = k_xx.shape[0]
    kt_xx_sum = (k_xx.sum(axis=1) - np.diagonal(k_xx)).sum()
    kt_yy_sum = (k_yy.sum(axis=1) - np.diagonal(k_yy)).sum()
    return (kt_xx_sum + kt_yy_sum) / (m * (m - 1)) - 2 * k_xy.sum(axis=0).sum() / (m * m)


def torch_fidelity_kid(features_1, features_2, subsets, subset_size, seed):
    """torch-fidelity `kid_features_to_metric` with its poly kernel (degree 3, gamma 1/d, coef0 1)."""
    def kernel(x, y):
        return (x @ y.T * (1.0 / x.shape[1]) + 1) ** 3

    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        f1 = features_1[rng.choice(len(features_1), subset_size, replace=False)]
        f2 = features_2[rng.choice(len(features_2), subset_size, replace=False)]
        mmds[i] = torch_fidelity_mmd2(kernel(f1, f1), kernel(f1, f2), kernel(f2, f2))
    return float(np.mean(mmds)), float(np.std(mmds))


@pytest.mark.parametrize("seed", [0, 2020])
def test_kid_equals_torch_fidelity(seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(300, 32))
    fake = rng.normal(size=(250, 32)) * 1.2 + 0.1
    mean, std, note = kid_from_features(real, fake, subsets=20, subset_size=100, seed=seed)
    ref_mean, ref_std = torch_fidelity_kid(real, fake, 20, 100, seed)
    assert note == ""
    assert mean == pytest.approx(ref_mean, rel=1e-9) and std == pytest.approx(ref_std, rel=1e-9)
    assert mean > 0


def test_kid_with_fewer_samples_uses_them_all_and_says_so():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(60, 8)), rng.normal(size=(40, 8)) + 0.5
    mean, std, note = kid_from_features(real, fake, subsets=10, subset_size=1000, seed=1)
    assert "40 samples instead of 1000" in note and "60 real" in note
    assert (mean, std) == pytest.approx(torch_fidelity_kid(real, fake, 10, 40, 1), rel=1e-9)
    same_size = kid_from_features(real[:40], fake, subset_size=1000)
    assert (same_size[1] == 0.0
            and same_size[0] == pytest.approx(torch_fidelity_kid(real[:40], fake, 1, 40, 0)[0]))
    near_zero = kid_from_features(real[:30], real[30:], subset_size=30)[0]
    assert abs(near_zero) < mean


def torch_fidelity_isc(feature, splits, rng_seed):
    """torch-fidelity `isc_features_to_metric(feature, splits, shuffle=True, rng_seed)`."""
    n = feature.shape[0]
    feature = feature[np.random.RandomState(rng_seed).permutation(n), :].double()
    p, log_p = feature.softmax(dim=1), feature.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        p_chunk = p[(i * n // splits):((i + 1) * n // splits), :]
        log_p_chunk = log_p[(i * n // splits):((i + 1) * n // splits), :]
        q_chunk = p_chunk.mean(dim=0, keepdim=True)
        scores.append((p_chunk * (log_p_chunk - q_chunk.log())).sum(dim=1).mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))


@pytest.mark.parametrize(("n", "splits"), [(100, 10), (57, 4), (30, 1)])
def test_inception_score_equals_torch_fidelity(n, splits):
    logits = torch.randn(n, 1008, generator=torch.Generator().manual_seed(n)) * 4
    ours = inception_score(logits, splits=splits)
    assert ours == pytest.approx(torch_fidelity_isc(logits, splits, 2020), rel=1e-12)
    assert inception_score(logits.numpy(), splits=splits) == pytest.approx(ours, rel=1e-12)


def test_inception_score_extremes():
    confident_distinct = torch.eye(10).repeat(10, 1) * 50  # every class equally often, certain
    assert inception_score(confident_distinct, splits=1)[0] == pytest.approx(10.0, rel=1e-6)
    assert inception_score(torch.zeros(20, 10), splits=2) == pytest.approx((1.0, 0.0))


@pytest.mark.parametrize("shape", [(32, 40), (3, 24, 17), (1, 11, 11), (3, 64, 64)])
@pytest.mark.parametrize("data_range", [1.0, 255.0])
def test_ssim_and_psnr_equal_scikit_image(shape, data_range):
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    a = rng.uniform(0, data_range, shape)
    b = np.clip(a + rng.normal(0, 0.15 * data_range, shape), 0, data_range)
    channel_axis = 0 if len(shape) == 3 else None
    reference = structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, channel_axis=channel_axis)
    assert float(ssim(a, b, data_range)) == pytest.approx(reference, rel=1e-6, abs=1e-12)
    assert float(psnr(a, b, data_range)) == pytest.approx(
        peak_signal_noise_ratio(a, b, data_range=data_range), rel=1e-6)


def test_batched_uint8_and_torch_inputs_match_per_image_scikit_image():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (4, 3, 16, 20), dtype=np.uint8)
    b = rng.integers(0, 256, (4, 3, 16, 20), dtype=np.uint8)
    ours_ssim, ours_psnr = ssim(torch.from_numpy(a), torch.from_numpy(b), 255.0), psnr(a, b, 255.0)
    assert ours_ssim.shape == ours_psnr.shape == (4,)
    for i in range(4):
        reference = structural_similarity(a[i], b[i], data_range=255, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False, channel_axis=0)
        assert float(ours_ssim[i]) == pytest.approx(reference, rel=1e-6, abs=1e-12)
        assert float(ours_psnr[i]) == pytest.approx(peak_signal_noise_ratio(a[i], b[i], data_range=255),
                                                    rel=1e-6)
    assert float(ssim(a[0], a[0], 255.0)) == pytest.approx(1.0) and float(psnr(a[0], a[0], 255.0)) == np.inf


@pytest.mark.parametrize("call", [
    lambda: ssim(np.zeros((10, 10)), np.zeros((10, 10)), 1.0),
    lambda: ssim(np.zeros((12, 12)), np.zeros((12, 13)), 1.0),
    lambda: psnr(np.zeros(12), np.zeros(12), 1.0),
])
def test_quality_bad_shapes(call):
    with pytest.raises(ValueError):
        call()


def brute_force_precision_recall(real, fake, k):
    """torch-fidelity's `calculate_precision_recall_full` with SciPy distances (real = features_2)."""
    radius_real = np.sort(scipy.spatial.distance.cdist(real, real), axis=1)[:, k]
    radius_fake = np.sort(scipy.spatial.distance.cdist(fake, fake), axis=1)[:, k]
    fake_to_real = scipy.spatial.distance.cdist(fake, real)
    precision = (fake_to_real <= radius_real[None, :]).any(axis=1).mean()
    recall = (fake_to_real.T <= radius_fake[None, :]).any(axis=1).mean()
    return precision, recall


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_equals_brute_force(k):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(200, 16))
    fake = rng.normal(size=(150, 16)) * 0.6 + 0.4  # narrower and shifted: precision > recall
    ours = precision_recall(real, fake, k=k, block=64)
    assert ours == pytest.approx(brute_force_precision_recall(real, fake, k), abs=1e-12)
    assert ours[0] > ours[1]


def test_precision_recall_extremes_and_errors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)
    with pytest.raises(ValueError):
        precision_recall(x[:3], x)
