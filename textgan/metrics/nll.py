"""Likelihood metrics for text generators: NLL_oracle, NLL_gen, NLL_div and perplexity.

Why: on the synthetic benchmark the oracle scores the generator's samples (quality), and the
generator scores held-out text (coverage); papers mix up how padding is counted, so every number
here says whether padding was excluded (the default) or averaged in (`legacy=True`, the anchors' way).
Works with any model that has `log_probs(tokens) -> (B, T)` per-token log-probabilities under
teacher forcing (every `textgan.text.generators.TextGenerator`) and any oracle with
`nll(tokens) -> (B,)` per-sequence mean NLL; nothing here imports `textgan.text`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Protocol

import torch
from torch import Tensor, nn


class LogProbModel(Protocol):
    """A generator that scores given token sequences."""

    def log_probs(self, tokens: Tensor) -> Tensor: ...


class NLLOracle(Protocol):
    """A reference model that gives each sequence's mean per-token NLL."""

    def nll(self, tokens: Tensor) -> Tensor: ...


def _check_tokens(tokens: Tensor) -> None:
    if tokens.dim() != 2 or tokens.dtype not in (torch.long, torch.int32) or not tokens.numel():
        raise ValueError(f"tokens must be a non-empty integer tensor (n, seq_len), got "
                         f"{tuple(tokens.shape)} {tokens.dtype}")


@contextlib.contextmanager
def _eval_mode(model: object) -> Iterator[None]:
    """No gradients and no dropout while scoring; the model's training flag is restored after."""
    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            model.train()


def _device(model: object) -> torch.device:
    if isinstance(model, nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def token_mask(tokens: Tensor, pad_id: int | None = None, eos_id: int | None = None) -> Tensor:
    """Which positions are real tokens (bool, same shape): not `pad_id`, and not after the first
    `eos_id` of the row (the EOS itself counts: predicting the end is part of the model)."""
    mask = torch.ones_like(tokens, dtype=torch.bool)
    if pad_id is not None:
        mask &= tokens != pad_id
    if eos_id is not None:
        eos_before = (tokens == eos_id).long().cumsum(1) - (tokens == eos_id).long()
        mask &= eos_before == 0
    return mask


def model_nll(model: LogProbModel, tokens: Tensor, mask: Tensor | None = None,
              batch_size: int = 256) -> float:
    """The model's mean per-token NLL (nats) over the positions where `mask` is true (all if None),
    i.e. total NLL / number of tokens, summed in float64."""
    _check_tokens(tokens)
    if mask is not None and mask.shape != tokens.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} differs from tokens {tuple(tokens.shape)}")
    total, count = 0.0, 0
    with _eval_mode(model):
        device = _device(model)
        for lo in range(0, len(tokens), batch_size):
            batch = tokens[lo : lo + batch_size].to(device, torch.long)
            nll = -model.log_probs(batch).double()
            if mask is None:
                total += float(nll.sum())
                count += nll.numel()
            else:
                keep = mask[lo : lo + batch_size].to(device)
                total += float(nll[keep].sum())
                count += int(keep.sum())
    if count == 0:
        raise ValueError("no tokens to score: every position is masked out")
    return total / count


def nll_gen(model: LogProbModel, test_tokens: Tensor, *, pad_id: int | None, eos_id: int | None = None,
            legacy: bool = False, batch_size: int = 256) -> float:
    """NLL_gen: the generator's per-token NLL on held-out (test) sequences, padding excluded.

    `pad_id=None` for fixed-length data without padding (the oracle). `legacy=True` averages over
    every position, padding included, as Texygen / RelGAN / TextGAN-PyTorch do (their numbers fall
    as sentences get shorter, so they are not comparable with the default).
    """
    mask = None if legacy else token_mask(test_tokens, pad_id, eos_id)
    return model_nll(model, test_tokens, mask, batch_size)


def nll_div(model: LogProbModel, own_samples: Tensor, *, pad_id: int | None = None,
            eos_id: int | None = None, batch_size: int = 256) -> float:
    """NLL_div: the generator's per-token NLL on its own samples (its entropy estimate; low values
    mean it is sure of what it writes, a sign of low diversity). Positions after the first
    `eos_id` and padding are excluded when the ids are given."""
    return model_nll(model, own_samples, token_mask(own_samples, pad_id, eos_id), batch_size)


def nll_oracle(oracle: NLLOracle, samples: Tensor) -> float:
    """NLL_oracle: the oracle's mean per-token NLL of model samples (mean over sequences of the
    oracle's per-sequence means, as SeqGAN/Texygen/RelGAN report it)."""
    _check_tokens(samples)
    return float(oracle.nll(samples).double().mean())


def perplexity(nll: float) -> float:
    """exp(per-token NLL in nats); inf when it overflows."""
    try:
        return math.exp(nll)
    except OverflowError:
        return math.inf
