"""The objective of the adversarial update: everything that turns D's logits into the players' losses.

Built from the recipe's `loss:` section, one `Objective` owns the adversarial loss (from the loss
table in `core.losses`), one-sided label smoothing, instance noise on D's inputs, the gradient
penalty and R1, and WGAN's weight clipping. The steps in `core.steps` ask it for D's loss with its
statistics and for G's loss; they never name a loss or a regulariser. A changed `loss:` section
(the live doctor's remedies) takes effect by building a new objective.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from textgan.core import regularizers as reg
from textgan.core import schema
from textgan.core.losses import LOSSES

if TYPE_CHECKING:
    from collections.abc import Callable

    from textgan.config import LossConfig


class Objective:
    """The adversarial loss and D's regularisers of one recipe's `loss:` section."""

    def __init__(self, cfg: LossConfig) -> None:
        self.cfg = cfg
        self.loss = LOSSES[cfg.name]
        self.gp_weight = cfg.effective_gp_weight

    @property
    def g_needs_real(self) -> bool:
        """Whether G's loss compares its fakes with D's outputs on reals (the relativistic losses)."""
        return self.loss.g_needs_real

    @property
    def differentiates_d_inputs(self) -> bool:
        """Whether D's loss differentiates through D's input gradients (GP, R1): a double backward."""
        return bool(self.gp_weight or self.cfg.r1_weight)

    def instance_noise(self, step: int) -> float:
        """The std of the noise on D's inputs at `step` (annealed as the recipe says)."""
        return reg.instance_noise_std(self.cfg.instance_noise, self.cfg.instance_noise_anneal_steps, step)

    def d_loss(self, discriminate: Callable[[Tensor], Tensor], real: Tensor,
               fake: Tensor) -> tuple[Tensor, Tensor, Tensor, dict[str, float]]:
        """D's loss on a real and a fake batch (already noised), D being `discriminate` (inputs to
        logits): (loss, D's logits on the reals and on the fakes, the penalties' values by their
        logged names)."""
        d_real, d_fake = discriminate(real), discriminate(fake)
        loss = self.loss.d_loss(d_real.float(), d_fake.float(), self.cfg.label_smoothing)
        stats: dict[str, float] = {}
        if self.gp_weight:
            gp = reg.gradient_penalty(discriminate, real, fake)
            loss = loss + self.gp_weight * gp
            stats[schema.GP] = gp.item()
        if self.cfg.r1_weight:
            r1 = reg.r1_penalty(discriminate, real)
            loss = loss + 0.5 * self.cfg.r1_weight * r1
            stats[schema.R1] = r1.item()
        return loss, d_real, d_fake, stats

    def g_loss(self, d_real: Tensor | None, d_fake: Tensor) -> Tensor:
        """G's loss from D's logits on its fakes (and on reals, for a relativistic loss)."""
        return self.loss.g_loss(d_real, d_fake)

    def constrain(self, discriminator: nn.Module) -> None:
        """After D's update: WGAN's weight clipping, when the loss asks for it."""
        if self.loss.weight_clip:
            reg.clip_weights(discriminator, self.cfg.wgan_clip)
