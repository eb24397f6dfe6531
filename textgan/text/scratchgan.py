"""ScratchGAN (d'Autume et al., NeurIPS 2019): a language GAN trained without MLE pre-training.

Its discriminator is an LSTM that scores every prefix of a sentence, so each token gets a reward of
its own (dense rewards): r_t = 2 sigmoid(D_t) - 1 for D's logit D_t on the prefix ending at token t.
The generator learns by REINFORCE on the discounted returns R_t = sum_{s >= t} gamma^(s-t) r_s, less
a moving-average baseline b <- decay b + (1 - decay) mean(R) (updated with the batch before it is
used). Large batches, L2 weight decay (`optim_d.weight_decay`), dropout on D's embedding table and
layer norm in D's LSTM keep the game stable. Positions after a sentence's first EOS are padding: D's
logits there are zero (reward 0), and neither player's loss counts them.

Follows DeepMind's TensorFlow code (deepmind-research `scratchgan/`: `discriminator_nets.py`,
`losses.py`, `utils.py`); the generator is the recipe's own (`model.generator`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textgan.config import Recipe
from textgan.core import distributed as dist
from textgan.core.objective import Objective
from textgan.errors import UserError
from textgan.metrics.nll import token_mask
from textgan.text.data import TextData
from textgan.text.game import ModelConfig, TextGame
from textgan.text.signals import reinforce_loss

POSITION_DIM = 8  # sine waves appended to each token's embedding in D


def position_signal(seq_len: int, dim: int = POSITION_DIM) -> Tensor:
    """(seq_len, dim) fixed position features: cos(pi (t / period_k + shift_k)), the periods spaced
    log-linearly from 2 to seq_len and the shifts linearly from 0 to 2 (ScratchGAN's
    `get_position_signal`: the slowest wave is monotonous over the whole sentence)."""
    periods = torch.exp(torch.linspace(math.log(2.0), math.log(float(seq_len)), dim))
    shifts = torch.linspace(0.0, 2.0, dim)
    t = torch.arange(seq_len, dtype=torch.float32)[:, None]
    return torch.cos(math.pi * (t / periods + shifts))


def _truncated_normal_(weight: Tensor, fan_in: int) -> None:
    """TensorFlow's truncated normal of std 1/sqrt(fan_in), cut at two standard deviations (Sonnet's
    default for linear and LSTM weights)."""
    std = fan_in**-0.5
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


class LayerNormLSTM(nn.Module):
    """One LSTM layer over (B, T, I) as Sonnet 1's `snt.LSTM`: gates = LN([x, h] W) + b, split into
    input, candidate, forget and output gates, forget bias 1; LN (learned gain and shift) over all
    4H pre-activations at once. `layer_norm=False` is a plain LSTM with that gate layout."""

    def __init__(self, input_dim: int, hidden_dim: int, layer_norm: bool = True) -> None:
        super().__init__()
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.weight = nn.Parameter(torch.empty(input_dim + hidden_dim, 4 * hidden_dim))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_dim))
        self.norm = nn.LayerNorm(4 * hidden_dim) if layer_norm else None
        _truncated_normal_(self.weight, input_dim + hidden_dim)

    def forward(self, x: Tensor) -> Tensor:
        """The hidden state after each step (B, T, H), from zero states."""
        w_x, w_h = self.weight[: self.input_dim], self.weight[self.input_dim :]
        x_gates = x @ w_x  # the input's share of every step's gates, in one matmul
        h = c = x.new_zeros(x.shape[0], self.hidden_dim)
        hidden = []
        for t in range(x.shape[1]):
            gates = x_gates[:, t] + h @ w_h
            if self.norm is not None:
                gates = self.norm(gates)
            i, j, f, o = (gates + self.bias).chunk(4, dim=-1)
            c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(j)
            h = torch.tanh(c) * torch.sigmoid(o)
            hidden.append(h)
        return torch.stack(hidden, dim=1)


class PrefixDiscriminator(nn.Module):
    """ScratchGAN's D (`LSTMEmbedDiscNet`): token embeddings (the table under dropout) with the
    position signal, a linear map to the LSTM's width, `layers` layer-normed LSTM layers (Sonnet's
    DeepRNN with skip connections: each later layer also sees the first layer's input, and the
    output joins every layer's states) and one linear logit per position. The logit at t sees only
    tokens 0..t, so it scores the prefix ending there; after the first `eos_id` it is zero."""

    def __init__(self, vocab_size: int, emb_dim: int = 64, hidden_dim: int = 512, layers: int = 1,
                 layer_norm: bool = True, dropout: float = 0.1, eos_id: int | None = None) -> None:
        super().__init__()
        self.eos_id = eos_id
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        nn.init.xavier_uniform_(self.embedding.weight)  # tf.get_variable's default (Glorot uniform)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(emb_dim + POSITION_DIM, hidden_dim)
        self.lstms = nn.ModuleList(LayerNormLSTM(hidden_dim * (1 if k == 0 else 2), hidden_dim, layer_norm)
                                   for k in range(layers))
        self.out = nn.Linear(hidden_dim * layers, 1)
        for linear in (self.proj, self.out):
            _truncated_normal_(linear.weight, linear.in_features)
            nn.init.zeros_(linear.bias)

    def prefix_mask(self, tokens: Tensor) -> Tensor:
        """(B, T) bool: the positions up to and including each row's first EOS (all without EOS)."""
        return token_mask(tokens, eos_id=self.eos_id)

    def forward(self, tokens: Tensor) -> Tensor:
        """Logits (B, T), one per prefix, zero past each row's end."""
        if tokens.is_floating_point():
            raise UserError("ScratchGAN's discriminator reads token ids, not soft one-hots")
        table = self.dropout(self.embedding.weight)  # the reference drops entries of the whole table
        e = F.embedding(tokens, table)
        pos = position_signal(tokens.shape[1]).to(e).expand(len(tokens), -1, -1)
        x = self.proj(torch.cat([e, pos], dim=-1))
        states: list[Tensor] = []
        for k, lstm in enumerate(self.lstms):
            states.append(lstm(x if k == 0 else torch.cat([x, states[-1]], dim=-1)))
        logits = self.out(torch.cat(states, dim=-1)).squeeze(-1)
        return logits * self.prefix_mask(tokens)


def discounted_returns(rewards: Tensor, discount: float) -> Tensor:
    """R_t = sum_{s >= t} discount^(s - t) r_s for rewards (B, T), by R_t = r_t + discount R_{t+1}."""
    returns = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + discount * running
        returns[:, t] = running
    return returns


def token_rewards(logits: Tensor, mask: Tensor, dense: bool = True) -> Tensor:
    """ScratchGAN's rewards (B, T): 2 sigmoid(logit) - 1 at each counted position, 0 elsewhere (the
    reference's "more stable than log D"). `dense=False` keeps only each row's last counted position,
    so the whole sentence is judged once (the paper's ablation of dense rewards)."""
    rewards = (2.0 * torch.sigmoid(logits.float()) - 1.0) * mask
    if dense:
        return rewards
    last = mask.long().sum(1, keepdim=True).clamp_min(1) - 1
    return torch.zeros_like(rewards).scatter_(1, last, rewards.gather(1, last))


def moving_average(baseline: Tensor, value: Tensor, decay: float) -> Tensor:
    """The baseline's update: decay * baseline + (1 - decay) * value."""
    return decay * baseline + (1.0 - decay) * value


class ScratchGANGame(TextGame):
    """ScratchGAN on the shared core: fakes are sampled token ids, D scores every prefix, and G learns
    by discounted REINFORCE on D's per-token rewards with a moving-average baseline (kept in the
    game's state, so a resumed run continues it exactly)."""

    discriminator: PrefixDiscriminator

    def __init__(self, recipe: Recipe, device: torch.device, data: TextData) -> None:
        if recipe.loss.name == "rsgan":
            raise UserError("loss.name rsgan pairs each real logit with a fake one, but ScratchGAN's D "
                            "scores every position up to a sentence's end, so reals and fakes differ in "
                            "count: use vanilla (the reference's), ns, lsgan, hinge, wgan or rasgan")
        super().__init__(recipe, device, data)
        self.baseline = torch.zeros((), device=device)

    def make_discriminator(self, cfg: ModelConfig, data: TextData) -> nn.Module:
        return PrefixDiscriminator(data.vocab_size, cfg.d_emb_dim, cfg.d_lstm_dim, cfg.d_lstm_layers,
                                   cfg.d_layer_norm, cfg.d_dropout, eos_id=data.eos_id)

    def fake_batch(self, batch_size: int) -> Tensor:
        return self.generator.sample(batch_size, self.seq_len)

    def discriminate(self, x: Tensor) -> Tensor:
        """D's logits at the counted positions of every row, flattened: the core's `d_loss` averages
        the recipe's loss over exactly these, so padding never enters D's loss or its statistics."""
        return self.discriminator(x)[self.discriminator.prefix_mask(x)]

    def generator_loss(self, objective: Objective, batch_size: int) -> tuple[Tensor, dict[str, float]]:
        """REINFORCE on G's log-probs of its own samples with advantages R_t - b at counted positions;
        D scores the samples in training mode (dropout on), as in the reference."""
        m, G = self.model_cfg, self.generator
        samples = G.sample(batch_size, self.seq_len)
        mask = self.discriminator.prefix_mask(samples)
        with torch.no_grad():
            rewards = token_rewards(self.discriminator(samples), mask, m.dense_rewards)
            returns = discounted_returns(rewards, m.discount)
            mean_return = returns[mask].mean()
            if dist.world_size() > 1:  # one baseline on every rank
                mean_return.fill_(dist.mean_over_ranks({"r": mean_return.item()})["r"])
            self.baseline = moving_average(self.baseline, mean_return, m.baseline_decay)
        loss = reinforce_loss(G.log_probs(samples), returns, self.baseline, mask)
        return loss, {"reward_mean": rewards[mask].mean().item(), "return_mean": mean_return.item(),
                      "baseline": self.baseline.item()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "baseline": self.baseline.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.baseline = state["baseline"].to(self.baseline.device)
