"""The toy game module (the contract of `textgan.games`): the recipe's `data` and `model` sections,
`ToyGame`, `build_game`, `METRIC_PANELS`, `METRIC_ROLES` and the doctor's `doctor_changes`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from textgan.config import Recipe, check_choice, check_positive
from textgan.core.data import ShuffledBatches
from textgan.core.game import LatentGame
from textgan.core.plots import MetricPanel
from textgan.core.regularizers import set_dropout
from textgan.doctor.remedies import Change, get
from textgan.doctor.roles import MetricRoles
from textgan.errors import UserError
from textgan.metrics.modes import mode_metrics
from textgan.toy.mixtures import DEFAULT_STD, mixture_centres, sample_mixture
from textgan.toy.models import mlp
from textgan.toy.plots import plot_samples, sample_caption

METRIC_PANELS = (
    MetricPanel("modes covered (count)", ("modes_covered",)),
    MetricPanel("high-quality samples (fraction, 0-1)", ("high_quality_fraction",)),
    MetricPanel("mode KL, nats (0 = every mode equally often)", ("mode_kl",)),
)
METRIC_ROLES = MetricRoles(quality=(("high_quality_fraction", "max"),), diversity=("modes_covered",),
                           quality_fraction="high_quality_fraction", mode_kl=("mode_kl", "modes_covered"))
PACK = 4  # PacGAN's packing when the doctor asks for it


def doctor_changes(pitfall: str, config: dict[str, Any]) -> list[Change]:
    """The mixture game's own remedy for collapse: PacGAN (D judges `PACK` samples at once, so it
    sees a lack of diversity), which changes D's input width and so takes a new run."""
    if pitfall != "mode_collapse" or get(config, "model.pack") != 1:
        return []
    return [Change("model.pack", 1, PACK, f"PacGAN: D judges {PACK} samples jointly", restart=True)]


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


class ToyGame(LatentGame):
    """Reals from a fixed sample of the mixture, fakes from G(z) with z ~ N(0, I) drawn every step."""

    def __init__(self, recipe: Recipe, device: torch.device) -> None:
        data: DataConfig = recipe.data
        model: ModelConfig = recipe.model
        if recipe.train.batch_size % model.pack:
            raise UserError(f"train.batch_size {recipe.train.batch_size} must be a multiple of "
                            f"model.pack {model.pack}")
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
        plot_samples(samples, self.centres, out_dir / f"step_{step:07d}.png",
                     f"step {step}: {sample_caption(metrics)}")
        return metrics

    def metric_names(self) -> set[str]:
        return {"modes_covered", "high_quality_fraction", "mode_kl"}

    def set_model_option(self, name: str, value: Any) -> None:
        if name == "d_dropout":
            set_dropout(self.discriminator, value)

    def signature(self) -> dict[str, Any]:
        return {"mixture": self.mixture, "std": self.std}

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches.load_state_dict(state["batches"])


def build_game(recipe: Recipe, device: torch.device) -> ToyGame:
    return ToyGame(recipe, device)
