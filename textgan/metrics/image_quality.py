"""PSNR and SSIM for paired images, batched in torch (float64), equal to scikit-image's.

SSIM follows Wang et al. 2004 with the Gaussian window (σ = 1.5, truncated at 3.5σ: an 11×11
window), K1 = 0.01, K2 = 0.03 and population (not sample) covariances: scikit-image's
`structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`. That
function filters the whole image with reflected borders and then drops the 5-pixel border where the
reflection reached, which is exactly a 'valid' convolution; so here the separable window runs as two
valid 1-D convolutions over the whole batch at once (scikit-image loops over images and channels in
SciPy). Colour images are the mean over channels, as scikit-image with `channel_axis`.

Images are channels-first: (H, W), (C, H, W) or a batch (N, C, H, W), numpy or torch; both
functions return float64 tensors, one value per image (shape () for one image, (N,) for a batch).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

TRUNCATE = 3.5


def _pair(a: np.ndarray | torch.Tensor,
          b: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Both images as float64 (N, C, H, W) on a's device, and whether the input was one image."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape:
        raise ValueError(f"the two images differ in shape: {tuple(a.shape)} and {tuple(b.shape)}")
    if a.ndim not in (2, 3, 4):
        raise ValueError(f"images must be (H, W), (C, H, W) or (N, C, H, W), got shape {tuple(a.shape)}")
    single = a.ndim < 4
    shape = (1,) * (4 - a.ndim) + tuple(a.shape)
    return (a.reshape(shape).to(torch.float64), b.reshape(shape).to(device=a.device, dtype=torch.float64),
            single)


def psnr(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, data_range: float) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, 10·log10(data_range² / MSE) per image (inf when equal)."""
    x, y, single = _pair(a, b)
    mse = (x - y).pow(2).mean(dim=(1, 2, 3))
    value = 10.0 * torch.log10(data_range**2 / mse)
    return value[0] if single else value


def _gaussian_window(sigma: float, device: torch.device) -> torch.Tensor:
    """SciPy's 1-D Gaussian kernel of `gaussian_filter(sigma, truncate=3.5)`, normalised."""
    radius = int(TRUNCATE * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    window = torch.exp(-0.5 * (x / sigma) ** 2)
    return window / window.sum()


def ssim(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, data_range: float, *,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean structural similarity per image (Gaussian window), as scikit-image (see module doc)."""
    x, y, single = _pair(a, b)
    window = _gaussian_window(sigma, x.device)
    size = len(window)
    n, c, h, w = x.shape
    if h < size or w < size:
        raise ValueError(f"SSIM with sigma={sigma} needs images of at least {size}×{size} pixels, "
                         f"got {h}×{w}")
    maps = torch.stack([x, y, x * x, y * y, x * y], dim=2).reshape(n * c * 5, 1, h, w)
    maps = F.conv2d(maps, window.view(1, 1, size, 1))
    maps = F.conv2d(maps, window.view(1, 1, 1, size))
    mu_x, mu_y, mu_xx, mu_yy, mu_xy = maps.reshape(n, c, 5, *maps.shape[-2:]).unbind(dim=2)
    var_x, var_y, cov = mu_xx - mu_x * mu_x, mu_yy - mu_y * mu_y, mu_xy - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    value = index.mean(dim=(1, 2, 3))
    return value[0] if single else value
