"""Training signals for text generators: RelGAN's temperature schedules for Gumbel-softmax,
SeqGAN's Monte-Carlo rollout rewards, REINFORCE, and MaliGAN's normalised rewards."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from textgan.errors import UserError
from textgan.text.generators import TextGenerator, sample_logits

SCHEDULES = ("no", "lin", "exp", "log", "sigmoid", "quad", "sqrt")


def temperature(step: int, horizon: int, beta_max: float, schedule: str) -> float:
    """RelGAN's inverse temperature beta (from 1 up to beta_max) at adversarial step `step`.

    The formulas of RelGAN's `get_fixed_temperature` with its N (hard-coded there to 5000) as
    `horizon`: over `horizon` steps the schedule reaches beta_max (lin, log, quad and sqrt exactly at
    step horizon - 1; exp and sigmoid within a fraction of a percent). Steps past the horizon keep
    the final value. Use softmax(logits * beta), i.e. `gumbel_sample(tau=1 / beta)`.
    """
    if schedule not in SCHEDULES:
        raise UserError(f"unknown temperature schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    if horizon < 2:
        raise UserError(f"the temperature horizon must be at least 2 steps, got {horizon}")
    n, i = horizon, min(max(step, 0), horizon - 1)
    if schedule == "no":
        return beta_max
    if schedule == "lin":
        return 1 + i / (n - 1) * (beta_max - 1)
    if schedule == "exp":
        return beta_max ** (i / n)
    if schedule == "log":
        return 1 + (beta_max - 1) / math.log(n) * math.log(i + 1)
    if schedule == "sigmoid":
        return (beta_max - 1) / (1 + math.exp((n / 2 - i) * 20 / n)) + 1
    if schedule == "quad":
        return (beta_max - 1) / (n - 1) ** 2 * i**2 + 1
    return (beta_max - 1) / math.sqrt(n - 1) * math.sqrt(i) + 1  # sqrt


@torch.no_grad()
def mc_rollout_rewards(generator: TextGenerator, samples: Tensor,
                       discriminator_fn: Callable[[Tensor], Tensor], num_rollouts: int = 16, *,
                       rollout_generator: TextGenerator | None = None, max_rows: int = 1024,
                       rng: torch.Generator | None = None, stride: int = 1) -> Tensor:
    """SeqGAN's rewards (B, T): rewards[b, t] scores token t of sample b.

    For t < T-1 it is the mean, over `num_rollouts` completions of the prefix samples[b, :t+1] by the
    generator, of sigmoid(D) on the completed sequence; for t = T-1 it is sigmoid(D) on the sample.
    `discriminator_fn` maps token ids (N, T) to one logit per sequence; give it D in eval mode
    (SeqGAN scores without dropout), e.g. `SeqGANDiscriminator.scorer()`. `rollout_generator`
    completes the prefixes instead of `generator` (SeqGAN uses a delayed copy of G). With `stride`
    s > 1 only the prefixes of lengths s, 2s, ... below T are completed (LeakGAN's rewards, one per
    block of s tokens): rewards (B, ceil(T / s)), the last column again sigmoid(D) on the sample.

    One pass over the samples gives the logits and state after every prefix; the completions of as
    many prefix lengths as `max_rows` allows then run in lockstep as one batch (a prefix's rows join
    when the clock reaches its length). Generator steps and D calls take at most `max_rows` rows at
    a time: 1024 keeps the (rows, V) logits small on CPU; raise it on a GPU.
    """
    model = rollout_generator or generator
    b, t_len = samples.shape
    r = num_rollouts
    lengths = range(stride, t_len, stride)
    # for each prefix length p: the logits for token p and the state after feeding token p-1
    first_logits, states = {}, {}
    prev, state = model.bos(b), model.init_state(b)
    for p in range(t_len):
        logits, state = model.step(prev, state)
        prev = samples[:, p]
        if p in lengths:
            first_logits[p], states[p] = logits, state

    def reward(x: Tensor) -> Tensor:
        return torch.cat([discriminator_fn(chunk).float().sigmoid() for chunk in x.split(max_rows)])

    per_group = max(1, max_rows // (b * r))
    q = []
    for start in range(0, len(lengths), per_group):
        prefixes = lengths[start : start + per_group]
        completed = _complete(model, samples, first_logits, states, prefixes, r, max_rows, rng)
        q.append(reward(completed).view(len(prefixes), b, r).mean(-1))
    q.append(reward(samples)[None])
    return torch.cat(q).T.contiguous()


def _complete(model: TextGenerator, samples: Tensor, first_logits: dict[int, Tensor],
              states: dict[int, tuple[Tensor, ...]], prefixes: range, r: int, max_rows: int,
              rng: torch.Generator | None) -> Tensor:
    """r completions of every prefix length in `prefixes`, rows ordered (prefix, sample, rollout)."""
    t_len = samples.shape[1]
    out = samples.repeat_interleave(r, dim=0).repeat(len(prefixes), 1)
    tokens = state = None
    for clock in range(prefixes[0], t_len):
        if clock in prefixes:  # this prefix length joins: r draws from its shared first logits
            new = sample_logits(first_logits[clock], num_samples=r, generator=rng).flatten()
            new_state = model.repeat_state(states[clock], r)
            tokens = new if tokens is None else torch.cat([tokens, new])
            state = new_state if state is None else model.cat_states([state, new_state])
        out[: len(tokens), clock] = tokens
        if clock < t_len - 1:
            tokens, state = _advance(model, tokens, state, max_rows, rng)
    return out


def _advance(model: TextGenerator, tokens: Tensor, state: tuple[Tensor, ...], max_rows: int,
             rng: torch.Generator | None) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Feed one token per row and draw the next, `max_rows` rows at a time: bounds the (rows, V)
    logits, and on CPU keeps them small enough for the allocator to reuse instead of page-faulting."""
    drawn, states = [], []
    for i in range(0, len(tokens), max_rows):
        new_tokens, new_state = model.sample_step(tokens[i : i + max_rows],
                                                  tuple(s[i : i + max_rows] for s in state), generator=rng)
        drawn.append(new_tokens)
        states.append(new_state)
    return torch.cat(drawn), model.cat_states(states)


def reinforce_loss(log_probs: Tensor, rewards: Tensor, baseline: str | Tensor | float | None = None,
                   mask: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """REINFORCE: -sum((rewards - baseline) * log_probs) over the tokens that count.

    log_probs, rewards: (B, T); rewards are treated as constants. baseline: None, "mean" (the batch
    mean reward at each position) or a tensor/number broadcastable to (B, T). mask: (B, T), 1 for
    tokens that count (e.g. not padding). reduction "mean" divides by the number of counted
    tokens; "sum" is SeqGAN's own loss.
    """
    rewards = rewards.detach()
    mask = torch.ones_like(rewards) if mask is None else mask.to(rewards.dtype)
    if isinstance(baseline, str):
        if baseline != "mean":
            raise UserError(f"unknown baseline {baseline!r}; expected None, 'mean' or a tensor")
        baseline = (rewards * mask).sum(0) / mask.sum(0).clamp_min(1)
    if baseline is not None:
        rewards = rewards - baseline
    loss = -(log_probs * rewards * mask).sum()
    if reduction == "sum":
        return loss
    if reduction != "mean":
        raise UserError(f"unknown reduction {reduction!r}; expected 'mean' or 'sum'")
    return loss / mask.sum().clamp_min(1)


def maligan_rewards(d_logits: Tensor, baseline: str | float | None = "mean") -> Tensor:
    """MaliGAN's normalised importance weights (B,): r_i = D_i / (1 - D_i) normalised over the batch.

    With D = sigmoid(logit), D / (1 - D) = exp(logit), so the weights are softmax(logits), computed
    stably. baseline "mean" subtracts their mean 1/B (as TextGAN-PyTorch does), a number subtracts
    itself, None keeps the raw weights.
    """
    weights = torch.softmax(d_logits.detach().float(), dim=0)
    if baseline == "mean":
        return weights - 1.0 / len(weights)
    if isinstance(baseline, str):
        raise UserError(f"unknown baseline {baseline!r}; expected None, 'mean' or a number")
    return weights if baseline is None else weights - baseline
