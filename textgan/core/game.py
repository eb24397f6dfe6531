"""The contract between a model family and the trainer.

A game owns the data, the generator and the discriminator, and says two things the trainer cannot
know: how fakes are made, and how the generator's loss is formed. The default `generator_loss` is
the reparameterised one (backpropagate through D into G), which covers images, toy mixtures and
Gumbel-softmax text; policy-gradient games override it with a REINFORCE objective.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from textgan.errors import UserError

if TYPE_CHECKING:
    from textgan.core.objective import Objective


class Game:
    """Base class: subclasses set `generator`, `discriminator` and implement the data methods."""

    generator: nn.Module
    discriminator: nn.Module
    # What `--init-from` takes from another run: the generator alone, unless the generator cannot work
    # without its partner (LeakGAN's reads its discriminator's features).
    init_from_parts: tuple[str, ...] = ("generator",)

    def real_batch(self) -> Tensor:
        """The next training batch of real data, in D's input format."""
        raise NotImplementedError

    def fake_batch(self, batch_size: int) -> Tensor:
        """A batch of fakes from fresh noise, differentiable w.r.t. the generator's parameters."""
        raise NotImplementedError

    def train_slice(self) -> Tensor:
        """A fixed slice of training reals; D on it versus D on `heldout_slice` shows over-fitting."""
        raise NotImplementedError

    def heldout_slice(self) -> Tensor:
        """A fixed slice of real data D never trains on."""
        raise NotImplementedError

    def discriminate(self, x: Tensor) -> Tensor:
        """D's logits, one per sample."""
        return self.discriminator(x).reshape(-1)

    def add_instance_noise(self, x: Tensor, std: float) -> Tensor:
        """Instance noise on D's inputs (Sønderby et al. 2016); games with discrete inputs override."""
        return x + std * torch.randn_like(x)

    def discriminator_loss(self, objective: Objective, real: Tensor,
                           fake: Tensor) -> tuple[Tensor, Tensor, Tensor, dict[str, float]]:
        """D's loss on a real and a fake batch: (loss, D's logits on the reals and on the fakes, values
        to log). The default is the recipe's adversarial loss on `discriminate`; a family whose D is
        not a binary classifier (a ranker, a (k+1)-class critic) forms its own."""
        return objective.d_loss(self.discriminate, real, fake)

    def generator_loss(self, objective: Objective, batch_size: int) -> tuple[Tensor, dict[str, float]]:
        """The generator's objective for one step, plus any numbers worth logging."""
        fake = self.fake_batch(batch_size)
        d_fake = self.discriminate(fake)
        d_real = self.discriminate(self.real_batch()) if objective.g_needs_real else None
        return objective.g_loss(d_real, d_fake), {}

    def generator_phase(self, players: Any, step: int, g_steps: int,
                        g_step: Callable[[Any, int], dict[str, float]]) -> dict[str, float]:
        """The generator's part of an adversarial iteration (`players`: the `core.steps.Players` that
        `g_step` updates; typed Any, as steps imports this module): `g_steps` generator steps. An
        evolutionary family (CatGAN) overrides it to run several variations of the generator from
        one start and keep the fittest."""
        record: dict[str, float] = {}
        for _ in range(g_steps):
            record.update(g_step(players, step))
        return record

    def pretrain_loss(self, batch_size: int) -> Tensor:
        """The generator's maximum-likelihood loss on a batch of real data (`train.pretrain_steps`)."""
        raise UserError(f"this game ({type(self).__name__}) has no pre-training: set "
                        "train.pretrain_steps to 0")

    def on_step(self, step: int, total_steps: int) -> dict[str, float]:
        """Called before each adversarial iteration with its number (1..total_steps) counted from the
        start of adversarial training (e.g. to anneal a temperature); returns values to log."""
        return {}

    def after_d_step(self, d_real: Tensor, d_fake: Tensor) -> dict[str, float]:
        """Called after each discriminator step with D's (detached) logits on the reals and fakes it
        just trained on, e.g. to adapt an augmentation probability from r_t; returns values to log."""
        return {}

    def set_model_option(self, name: str, value: Any) -> None:
        """The recipe's `model.<name>` was changed to `value` while training (a live doctor's remedy,
        which the game's module proposed): bring what the game derived from it up to date. A game
        that reads its model section live has nothing to do."""

    def evaluate(self, generator: nn.Module, step: int, out_dir: Path) -> dict[str, float]:
        """Metrics of `generator` (the EMA copy when EMA is on); may write samples/plots to `out_dir`."""
        return {}

    def metric_names(self) -> set[str] | None:
        """The names `evaluate` reports with this recipe (None: known only once it has run), so that
        a recipe watching a metric the game never reports is refused before training starts."""
        return None

    def metric_hint(self, metric: str) -> str:
        """Why `metric` is missing with this recipe, when the game knows (appended to the error)."""
        return ""

    def save_assets(self, run_dir: Path) -> None:
        """Files the run folder needs besides checkpoints (e.g. a vocabulary), written atomically
        when training starts or resumes."""

    def signature(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by this game (shapes, vocabulary, ...)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Game state beyond the networks (data order, schedules), for bit-for-bit resume."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class LatentGame(Game):
    """A game whose generator maps Gaussian noise z ~ N(0, I) of `z_dim` to samples, with fixed
    tensors of training and held-out reals (`_train_slice`, `_heldout`) for D's over-fitting probe."""

    z_dim: int
    device: torch.device
    _train_slice: Tensor
    _heldout: Tensor

    def fake_batch(self, batch_size: int) -> Tensor:
        return self.generator(torch.randn(batch_size, self.z_dim, device=self.device))

    def train_slice(self) -> Tensor:
        return self._train_slice

    def heldout_slice(self) -> Tensor:
        return self._heldout
