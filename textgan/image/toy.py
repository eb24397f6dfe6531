"""The toy game: 2-D Gaussian mixtures (the ring of 8 and the 5×5 grid of PacGAN/VEEGAN) with MLP
generator and discriminator. Small enough to train in minutes on a CPU, and the clearest view of
mode collapse there is."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from textgan.config import Recipe, check_choice, check_positive
from textgan.core.data import ShuffledBatches
from textgan.core.game import LatentGame
from textgan.core.plots import MetricPanel
from textgan.errors import UserError
from textgan.metrics.modes import mode_metrics

DEFAULT_STD = {"ring": 0.01, "grid": 0.05}
METRIC_PANELS = (
    MetricPanel("modes covered (count)", ("modes_covered",)),
    MetricPanel("high-quality samples (fraction, 0-1)", ("high_quality_fraction",)),
    MetricPanel("mode KL, nats (0 = every mode equally often)", ("mode_kl",)),
)


@dataclass
class DataConfig:
    """`ring`: 8 centres on the unit circle; `grid`: centres at {-4,-2,0,2,4}²."""

    mixture: str = "grid"
    std: float | None = None
    n_train: int = 100_000
    n_heldout: int = 2_500
    n_eval: int = 2_500

    def validate(self) -> None:
        check_choice(self.mixture, tuple(DEFAULT_STD), "data.mixture")
        for key in ("n_train", "n_heldout", "n_eval"):
            check_positive(getattr(self, key), f"data.{key}")
        if self.std is not None:
            check_positive(self.std, "data.std")

    @property
    def effective_std(self) -> float:
        return self.std if self.std is not None else DEFAULT_STD[self.mixture]


@dataclass
class ModelConfig:
    """MLPs for both players. `pack` > 1 makes D judge m samples jointly (PacGAN)."""

    z_dim: int = 2
    g_hidden: int = 256
    g_layers: int = 3
    d_hidden: int = 256
    d_layers: int = 3
    batch_norm: bool = False
    d_dropout: float = 0.0
    pack: int = 1

    def validate(self) -> None:
        for key in ("z_dim", "g_hidden", "g_layers", "d_hidden", "d_layers", "pack"):
            check_positive(getattr(self, key), f"model.{key}")
        if not 0.0 <= self.d_dropout < 1.0:
            raise UserError(f"model.d_dropout must be in [0, 1), got {self.d_dropout}")


def mixture_centres(mixture: str) -> np.ndarray:
    """The mode centres. The ring uses 2πk/8 for k = 0..7: `linspace(0, 2π, 8)` would repeat the
    first centre as the last and leave only 7 distinct modes."""
    if mixture == "ring":
        angles = 2 * np.pi * np.arange(8) / 8
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.array([(x, y) for x in axis for y in axis])


def sample_mixture(centres: np.ndarray, std: float, n: int, generator: torch.Generator) -> Tensor:
    """n points: a uniformly chosen centre plus isotropic Gaussian noise."""
    c = torch.as_tensor(centres, dtype=torch.float32)
    which = torch.randint(len(c), (n,), generator=generator)
    return c[which] + std * torch.randn(n, 2, generator=generator)


def mlp(n_in: int, hidden: int, layers: int, n_out: int, batch_norm: bool, dropout: float = 0.0) -> nn.Sequential:
    """`layers` hidden layers of width `hidden` with ReLU (optionally batch norm, dropout)."""
    blocks: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        blocks.append(nn.Linear(width, hidden))
        if batch_norm:
            blocks.append(nn.BatchNorm1d(hidden))
        blocks.append(nn.ReLU())
        if dropout:
            blocks.append(nn.Dropout(dropout))
        width = hidden
    blocks.append(nn.Linear(width, n_out))
    return nn.Sequential(*blocks)


class ToyGame(LatentGame):
    """Reals from a fixed sample of the mixture, fakes from G(z) with z ~ N(0, I) drawn every step."""

    def __init__(self, recipe: Recipe, device: torch.device) -> None:
        data: DataConfig = recipe.data
        model: ModelConfig = recipe.model
        if recipe.train.batch_size % model.pack:
            raise UserError(f"train.batch_size {recipe.train.batch_size} must be a multiple of model.pack {model.pack}")
        self.device = device
        self.z_dim = model.z_dim
        self.pack = model.pack
        self.std = data.effective_std
        self.n_eval = data.n_eval
        self.mixture = data.mixture
        self.centres = mixture_centres(data.mixture)
        gen = torch.Generator().manual_seed(recipe.seed)
        train = sample_mixture(self.centres, self.std, data.n_train, gen)
        self._heldout = sample_mixture(self.centres, self.std, data.n_heldout, gen).to(device)
        self._train_slice = train[: data.n_heldout].to(device)
        self.batches = ShuffledBatches(train.to(device), recipe.train.batch_size, recipe.seed)
        self.generator = mlp(model.z_dim, model.g_hidden, model.g_layers, 2, model.batch_norm)
        self.discriminator = mlp(2 * model.pack, model.d_hidden, model.d_layers, 1, False, model.d_dropout)

    def real_batch(self) -> Tensor:
        return self.batches.next()

    def discriminate(self, x: Tensor) -> Tensor:
        """With packing, consecutive groups of `pack` samples form one input of D."""
        return self.discriminator(x.reshape(-1, 2 * self.pack)).reshape(-1)

    def evaluate(self, generator: nn.Module, step: int, out_dir: Path) -> dict[str, float]:
        samples = generator(torch.randn(self.n_eval, self.z_dim, device=self.device)).cpu().numpy()
        metrics = mode_metrics(samples, self.centres, self.std)
        plot_samples(samples, self.centres, out_dir / f"step_{step:07d}.png", f"step {step}: {_caption(metrics)}")
        return metrics

    def metric_names(self) -> set[str]:
        return {"modes_covered", "high_quality_fraction", "mode_kl"}

    def signature(self) -> dict[str, Any]:
        return {"mixture": self.mixture, "std": self.std}

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches.load_state_dict(state["batches"])


def _caption(m: dict[str, float]) -> str:
    return f"{int(m['modes_covered'])} modes, {100 * m['high_quality_fraction']:.1f}% high quality"


def plot_samples(samples: np.ndarray, centres: np.ndarray, path: Path, title: str) -> None:
    """Scatter of generated samples over the true centres, saved as PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from textgan.core.checkpoint import atomic_save_figure

    span = math.ceil(float(np.abs(centres).max())) + 1
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue", label="samples")
    ax.scatter(centres[:, 0], centres[:, 1], s=40, marker="x", color="tab:red", label="centres")
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    atomic_save_figure(fig, path)
    plt.close(fig)


def build_game(recipe: Recipe, device: torch.device) -> ToyGame:
    return ToyGame(recipe, device)
