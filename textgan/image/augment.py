"""Differentiable augmentation for the discriminator: DiffAugment (Zhao et al. 2020) and the adaptive
probability of ADA (Karras et al. 2020).

DiffAugment transforms real and fake images alike on their way into D, with operations through which
gradients flow back into G: `color` (random brightness, saturation, contrast), `translation` (shift
by up to 1/8 of the side, zero padding) and `cutout` (a zeroed square of half the side). The
transforms follow the authors' reference code (mit-han-lab/data-efficient-gans,
`DiffAugment_pytorch.py`); they are written here because no library in the dependencies offers them
(torchvision's are not differentiable per sample, and kornia is not a dependency).

With probability p < 1 each transform is applied to each image independently with probability p
(ADA's scheme); p = 1 is DiffAugment as published. `AdaptiveP` moves p after every D step by
sign(r_t − target)·batch/`images_to_one`, r_t = E[sign(D(real))] on the augmented reals D just saw:
p rises while D is confident on reals (over-fitting) and falls otherwise, clamped to [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from textgan.errors import UserError


def _uniform(x: Tensor) -> Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def brightness(x: Tensor) -> Tensor:
    """Add one uniform offset in [-0.5, 0.5) per image."""
    return x + (_uniform(x) - 0.5)


def saturation(x: Tensor) -> Tensor:
    """Scale each image's deviation from its per-pixel channel mean by a factor in [0, 2)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x) * 2) + mean


def contrast(x: Tensor) -> Tensor:
    """Scale each image's deviation from its mean by a factor in [0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to `ratio` of its side in each direction, filling with zeros."""
    n, _, h, w = x.shape
    sx, sy = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[gb, gx, gy].permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero one square of `ratio` of the side per image, at a random centre."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    oy = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


POLICIES: dict[str, tuple[Callable[[Tensor], Tensor], ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """`"color,translation,cutout"` -> its names, checked; `""` -> no augmentation."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    for name in names:
        if name not in POLICIES:
            raise UserError(f"unknown augmentation {name!r}; choose from {', '.join(POLICIES)} "
                            "(comma-separated)")
    return names


def diff_augment(x: Tensor, policy: Sequence[str], p: float = 1.0) -> Tensor:
    """Apply the policy's transforms in order; each one to each image with probability `p`."""
    if p <= 0:
        return x
    for name in policy:
        for transform in POLICIES[name]:
            out = transform(x)
            if p < 1:
                keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
                out = torch.where(keep, out, x)
            x = out
    return x


class AdaptiveP:
    """ADA's controller of the augmentation probability, driven by r_t = E[sign(D(real))]."""

    def __init__(self, target: float = 0.6, images_to_one: int = 100_000, p: float = 0.0) -> None:
        self.target = target
        self.images_to_one = images_to_one
        self.p = p

    def update(self, d_real: Tensor) -> float:
        """Move p by sign(r_t − target)·n/images_to_one for a batch of n reals' logits; returns p."""
        rt = torch.sign(d_real.detach()).mean().item()
        step = ((1.0 if rt > self.target else -1.0 if rt < self.target else 0.0) * len(d_real)
                / self.images_to_one)
        self.p = min(1.0, max(0.0, self.p + step))
        return self.p

    def state_dict(self) -> dict[str, float]:
        return {"p": self.p}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.p = float(state["p"])
