"""One optimisation step of each kind: generator MLE, discriminator, generator, and the adversarial
iteration made of them. The trainer calls them in its loop; benchmarks and tests call them alone.

Each step reads what it updates from `Players` (the game with its networks and data, the
objective, each network's optimiser, schedule and clipping), applies one update, and returns the
step's statistics under their `core.schema` names. A non-finite loss or gradient norm raises
`NonFiniteStep` before the optimiser moves, so the weights stay as they were.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from textgan.config import OptimConfig
from textgan.core import distributed as dist
from textgan.core import schema
from textgan.core.ema import EMA
from textgan.core.game import Game
from textgan.core.losses import d_accuracy
from textgan.core.objective import Objective
from textgan.core.optim import clip_and_measure


class NonFiniteStep(Exception):
    """A step's loss or gradient norm is NaN/inf; `values` holds both by their logged names."""

    def __init__(self, network: str, loss: float, grad_norm: float) -> None:
        super().__init__(f"the {network}'s loss or gradient is not finite "
                         f"(loss {loss:.4g}, grad norm {grad_norm:.4g})")
        loss_key, norm_key = schema.LOSS_KEYS[network]
        self.values = {loss_key: loss, norm_key: grad_norm}


@dataclass
class Optimised:
    """One network's optimiser, its learning-rate schedule and its recipe section (clipping)."""

    optimizer: Optimizer
    schedule: LRScheduler
    cfg: OptimConfig

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]


@dataclass
class Players:
    """What the steps update: the game, the objective, and the optimisers of G (adversarial), D and G
    (MLE); `batch_size` is this process's share, split into `accumulate` micro-batches."""

    game: Game
    objective: Objective
    g: Optimised
    d: Optimised
    pretrain: Optimised
    batch_size: int
    accumulate: int = 1
    ema: EMA | None = None
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext


def _finite_or_raise(loss: Tensor, grad_norm: float, network: str) -> None:
    if not (torch.isfinite(loss).item() and math.isfinite(grad_norm)):
        raise NonFiniteStep(network, loss.item(), grad_norm)


def mle_step(p: Players, step: int, advance_schedule: bool = True) -> dict[str, float]:
    """One maximum-likelihood step of the generator on real data (the game's `pretrain_loss`).
    Interleaved into adversarial training it leaves the MLE schedule where pre-training ended it."""
    G, opt = p.game.generator, p.pretrain
    opt.optimizer.zero_grad(set_to_none=True)
    for _ in range(p.accumulate):
        with p.autocast():
            loss = p.game.pretrain_loss(p.batch_size)
        (loss / p.accumulate).backward()
    dist.average_gradients(G)
    grad_norm = clip_and_measure(G, opt.cfg)
    _finite_or_raise(loss, grad_norm, "generator (MLE)")
    opt.optimizer.step()
    if advance_schedule:
        opt.schedule.step()
    if p.ema:
        p.ema.update(G, step)
    return {schema.MLE_LOSS: loss.item(), schema.GRAD_NORM_G: grad_norm, schema.LR_PRETRAIN: opt.lr}


def d_step(p: Players, step: int) -> dict[str, float]:
    """One discriminator step on a real and a fake batch, with D's outputs and accuracies."""
    game, D, objective = p.game, p.game.discriminator, p.objective
    noise = objective.instance_noise(step)
    p.d.optimizer.zero_grad(set_to_none=True)
    for _ in range(p.accumulate):
        real = game.real_batch()
        with torch.no_grad():
            fake = game.fake_batch(p.batch_size)
        if noise:
            real, fake = game.add_instance_noise(real, noise), game.add_instance_noise(fake, noise)
        with p.autocast():
            loss, d_real, d_fake, stats = game.discriminator_loss(objective, real, fake)
        (loss / p.accumulate).backward()
    dist.average_gradients(D)
    stats[schema.GRAD_NORM_D] = clip_and_measure(D, p.d.cfg)
    _finite_or_raise(loss, stats[schema.GRAD_NORM_D], "discriminator")
    p.d.optimizer.step()
    objective.constrain(D)
    stats.update(game.after_d_step(d_real.detach(), d_fake.detach()))
    acc_real, acc_fake = d_accuracy(d_real, d_fake)
    stats.update({schema.D_LOSS: loss.item(), schema.D_REAL: d_real.mean().item(),
                  schema.D_FAKE: d_fake.mean().item(), schema.D_ACC_REAL: acc_real,
                  schema.D_ACC_FAKE: acc_fake, schema.RT: torch.sign(d_real).mean().item()})
    if noise:
        stats[schema.INSTANCE_NOISE] = noise
    return stats


def g_step(p: Players, step: int) -> dict[str, float]:
    """One generator step against the current D (the game forms the loss: through D, or REINFORCE)."""
    G, D = p.game.generator, p.game.discriminator
    p.g.optimizer.zero_grad(set_to_none=True)
    extra: dict[str, float] = {}
    D.requires_grad_(False)  # gradients flow through D into G, but D's own are not needed
    try:
        for _ in range(p.accumulate):
            with p.autocast():
                loss, extra = p.game.generator_loss(p.objective, p.batch_size)
            (loss / p.accumulate).backward()
    finally:
        D.requires_grad_(True)
    dist.average_gradients(G)
    grad_norm = clip_and_measure(G, p.g.cfg)
    _finite_or_raise(loss, grad_norm, "generator")
    p.g.optimizer.step()
    if p.ema:
        p.ema.update(G, step)
    return {schema.G_LOSS: loss.item(), schema.GRAD_NORM_G: grad_norm, **extra}


def adversarial_step(p: Players, step: int, iteration: int, iterations: int, n_critic: int,
                     g_steps: int, mle_every: int = 0, mle_steps: int = 0) -> dict[str, float]:
    """One adversarial iteration (`iteration` of `iterations`, counted from the adversarial start):
    the game's per-iteration hook, `n_critic` D steps, `g_steps` G steps (the game's generator
    phase), every `mle_every`-th iteration `mle_steps` MLE steps of G (LeakGAN's interleaved teacher
    forcing), then the LR schedules."""
    record = dict(p.game.on_step(iteration, iterations))
    for _ in range(n_critic):
        record.update(d_step(p, step))
    record.update(p.game.generator_phase(p, step, g_steps, g_step))
    if mle_every and iteration % mle_every == 0:
        for _ in range(mle_steps):
            record.update(mle_step(p, step, advance_schedule=False))
    p.g.schedule.step()
    p.d.schedule.step()
    record.update({schema.LR_G: p.g.lr, schema.LR_D: p.d.lr})
    return record
