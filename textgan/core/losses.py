"""Adversarial losses by name: the one table of loss facts. D always outputs logits; probabilities
appear only where reported.

Each loss is a pair of functions of the discriminator's logits on a real and a fake batch:
`d_loss(real, fake, smoothing)` (minimised by D) and `g_loss(real, fake)` (minimised by G).
`smoothing` is one-sided label smoothing: the real target becomes 1 - smoothing; only a loss that
compares D's outputs with labels (`takes_labels`) has a target to smooth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def _bce_real(logits: Tensor, smoothing: float) -> Tensor:
    """-[(1-s) log σ(x) + s log(1-σ(x))]: binary cross-entropy against the target 1 - s."""
    if smoothing:
        return (1 - smoothing) * F.softplus(-logits) + smoothing * F.softplus(logits)
    return F.softplus(-logits)


def _bce_fake(logits: Tensor) -> Tensor:
    """-log(1 - σ(x))."""
    return F.softplus(logits)


def _vanilla_d(real: Tensor, fake: Tensor, smoothing: float) -> Tensor:
    return _bce_real(real, smoothing).mean() + _bce_fake(fake).mean()


def _saturating_g(real: Tensor | None, fake: Tensor) -> Tensor:
    """Goodfellow's original minimax objective: G minimises log(1 - D(G(z))); it saturates when D wins."""
    return -_bce_fake(fake).mean()


def _non_saturating_g(real: Tensor | None, fake: Tensor) -> Tensor:
    """G maximises log D(G(z)) instead: strong gradients exactly when D rejects the fakes."""
    return F.softplus(-fake).mean()


def _lsgan_d(real: Tensor, fake: Tensor, smoothing: float) -> Tensor:
    return 0.5 * ((real - (1 - smoothing)) ** 2).mean() + 0.5 * (fake**2).mean()


def _lsgan_g(real: Tensor | None, fake: Tensor) -> Tensor:
    return 0.5 * ((fake - 1) ** 2).mean()


def _wasserstein_d(real: Tensor, fake: Tensor, smoothing: float) -> Tensor:
    return fake.mean() - real.mean()


def _wasserstein_g(real: Tensor | None, fake: Tensor) -> Tensor:
    return -fake.mean()


def _hinge_d(real: Tensor, fake: Tensor, smoothing: float) -> Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def _rsgan_d(real: Tensor, fake: Tensor, smoothing: float) -> Tensor:
    """Relativistic standard GAN (Jolicoeur-Martineau): reals should look more real than fakes, pairwise."""
    return _bce_real(real - fake, smoothing).mean()


def _rsgan_g(real: Tensor, fake: Tensor) -> Tensor:
    return F.softplus(-(fake - real)).mean()


def _rasgan_d(real: Tensor, fake: Tensor, smoothing: float) -> Tensor:
    """Relativistic average GAN: each sample is compared with the mean logit of the other side."""
    return _bce_real(real - fake.mean(), smoothing).mean() + _bce_fake(fake - real.mean()).mean()


def _rasgan_g(real: Tensor, fake: Tensor) -> Tensor:
    return F.softplus(-(fake - real.mean())).mean() + F.softplus(real - fake.mean()).mean()


@dataclass(frozen=True)
class AdversarialLoss:
    """A named pair of D and G objectives on logits, and what they need: labels (which label
    smoothing softens; the critic losses have none), D's outputs on reals in G's loss (the
    relativistic losses), WGAN's weight clipping."""

    name: str
    d_loss: Callable[[Tensor, Tensor, float], Tensor]
    g_loss: Callable[[Tensor | None, Tensor], Tensor]
    g_needs_real: bool = False
    weight_clip: bool = False
    takes_labels: bool = True


LOSSES: dict[str, AdversarialLoss] = {
    "vanilla": AdversarialLoss("vanilla", _vanilla_d, _saturating_g),
    "ns": AdversarialLoss("ns", _vanilla_d, _non_saturating_g),
    "lsgan": AdversarialLoss("lsgan", _lsgan_d, _lsgan_g),
    "wgan": AdversarialLoss("wgan", _wasserstein_d, _wasserstein_g, weight_clip=True, takes_labels=False),
    "wgan-gp": AdversarialLoss("wgan-gp", _wasserstein_d, _wasserstein_g, takes_labels=False),
    "hinge": AdversarialLoss("hinge", _hinge_d, _wasserstein_g, takes_labels=False),
    "rsgan": AdversarialLoss("rsgan", _rsgan_d, _rsgan_g, g_needs_real=True),
    "rasgan": AdversarialLoss("rasgan", _rasgan_d, _rasgan_g, g_needs_real=True),
}


def d_accuracy(real: Tensor, fake: Tensor) -> tuple[float, float]:
    """Fraction of reals with logit > 0 and of fakes with logit < 0 (the doctor reads both)."""
    with torch.no_grad():
        return (real > 0).float().mean().item(), (fake < 0).float().mean().item()
