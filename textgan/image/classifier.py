"""A small CNN classifier trained by textgan on a labelled image data set (MNIST here): the feature
extractor of the domain FID (`domain_fid`) and domain Inception Score, which need no external weights.

The classifier is trained once per data set and cached on disk (`classifier_<key>.pt`, written
atomically, read with `torch.load(weights_only=True)`), keyed by a hash of the pixels, the labels,
the architecture version and the training settings; a changed data set trains a new one. It trains
on a fixed 80 % of the labelled images and reports its accuracy on the other 20 %. Its forward pass
returns (features, logits), so `textgan.image.features.module_extractor` turns it into a feature
extractor.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from textgan.core.checkpoint import cached_training
from textgan.errors import UserError
from textgan.image.data import ImageData, to_unit_range
from textgan.progress import progress_bar
from textgan.storage import cache_root

VERSION = 1  # bump when the architecture or the training changes: old cache files are then ignored
FEATURE_DIM = 128


def default_cache_dir() -> Path:
    """textgan's cache (`textgan.storage.cache_root`)."""
    return cache_root()


class SmallCNN(nn.Module):
    """conv3-ReLU-pool ×2, 4×4 average pool, a 128-d ReLU feature layer, a linear classifier."""

    def __init__(self, channels: int, n_classes: int, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * width * 16, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, n_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images in [-1, 1] -> (features (n, 128), logits (n, classes))."""
        features = self.body(x)
        return features, self.head(features)


def _split(n: int) -> tuple[Tensor, Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    cut = round(0.8 * n)
    return order[:cut], order[cut:]


def accuracy(model: SmallCNN, images: Tensor, labels: Tensor, batch: int = 500) -> float:
    """Fraction of `images` (uint8) whose arg-max logit is the label."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            _, logits = model(to_unit_range(images[i : i + batch]))
            correct += int((logits.argmax(1) == labels[i : i + batch]).sum())
    return correct / max(1, len(images))


def train_classifier(data: ImageData, steps: int, batch_size: int = 128,
                     lr: float = 2e-3, seed: int = 0) -> tuple[SmallCNN, float]:
    """Train on 80 % of the labelled images with Adam and cross-entropy; return the model (in eval
    mode) and its accuracy on the held-out 20 %."""
    if data.labels is None:
        raise UserError(f"the domain classifier needs labels, and {data.description} has none")
    train_idx, test_idx = _split(len(data.images))
    n_classes = int(data.labels.max()) + 1
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SmallCNN(data.images.shape[1], n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    with progress_bar(steps, "training the digit classifier", unit="step") as bar:
        for _ in range(steps):
            pick = train_idx[torch.randint(len(train_idx), (batch_size,), generator=gen)]
            _, logits = model(to_unit_range(data.images[pick]))
            loss = F.cross_entropy(logits, data.labels[pick])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update()
    return model, accuracy(model, data.images[test_idx], data.labels[test_idx])


def cache_key(data: ImageData, steps: int) -> str:
    """What a cached classifier must match: data, architecture version and training length."""
    return hashlib.sha256(f"{data.digest()}|v{VERSION}|steps{steps}".encode()).hexdigest()[:24]


def load_or_train(data: ImageData, steps: int, cache_dir: Path | None = None) -> tuple[SmallCNN, float]:
    """The cached classifier of `data` when there is one, else a newly trained one (then cached)."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = cache_key(data, steps)
    path = cache_dir / f"classifier_{key}.pt"
    model = SmallCNN(data.images.shape[1], int(data.labels.max()) + 1 if data.labels is not None else 1)
    return cached_training(path, key, "domain classifier", model, lambda: train_classifier(data, steps))
