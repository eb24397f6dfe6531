"""Regularisers that act on the discriminator: gradient penalty, R1, instance noise, spectral norm,
weight clipping, and weight initialisation schemes. Label smoothing lives in `losses`."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def gradient_penalty(d_fn: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||∇D(x̂)||₂ - 1)²] with x̂ on random lines between real and
    fake samples. The norm is taken per sample (not over the batch, as some libraries do)."""
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d_fn(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def r1_penalty(d_fn: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): E[||∇D(x)||²] on real data; the trainer weighs it by γ/2."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d_fn(real).sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def instance_noise_std(initial: float, anneal_steps: int, step: int) -> float:
    """Std of the Gaussian noise added to D's inputs, annealed linearly to 0 over `anneal_steps`
    (0 = constant)."""
    if not initial:
        return 0.0
    if anneal_steps <= 0:
        return initial
    return initial * max(0.0, 1.0 - step / anneal_steps)


def clip_weights(module: nn.Module, bound: float) -> None:
    """The original WGAN's weight clipping to [-bound, bound] (a crude Lipschitz constraint)."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-bound, bound)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Wrap every Linear and Conv weight of `module` in spectral normalisation (Miyato et al. 2018)."""
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            setattr(module, name, nn.utils.parametrizations.spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module


def set_dropout(module: nn.Module, p: float) -> None:
    """Set the probability of every dropout layer inside `module` (a changed `model.d_dropout`)."""
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.p = p


def init_weights(module: nn.Module, scheme: str) -> None:
    """Initialise Linear/Conv/Embedding weights: `xavier`, `orthogonal`, `normal` (N(0, 0.02), DCGAN)
    or `default` (leave PyTorch's own). Biases are zeroed for the explicit schemes."""
    if scheme == "default":
        return
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            weight = m.weight
            if scheme == "xavier":
                nn.init.xavier_uniform_(weight)
            elif scheme == "orthogonal":
                nn.init.orthogonal_(weight)
            elif scheme == "normal":
                nn.init.normal_(weight, 0.0, 0.02)
            else:
                raise ValueError(f"unknown init scheme {scheme!r}")
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
