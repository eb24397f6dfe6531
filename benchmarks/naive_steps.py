"""The naive reference the optimised text-GAN steps are measured against (benchmark only, not part of
the package).

These are the straightforward implementations a first version would have, written the way SeqGAN,
RelGAN and TextGAN-PyTorch write them, on the same modules, weights and hyper-parameters as textgan's
games: `naive_game(game)` returns a view of a game (sharing its models, data, optimiser-facing state)
whose MLE loss, fake batches, discriminator and policy-gradient loss are the naive ones, so the
steps of `textgan.core.steps` (`mle_step`, `g_step`, `d_step`) time either version with identical
bookkeeping.

What is naive, against textgan's optimisation of the same thing:
- relational memory step: input projection, then q/k/v of [memory; input] and the input gate from
  the projected input, attention by explicit matmuls (textgan folds the input-only maps into the
  embedding projection and uses `scaled_dot_product_attention`);
- Gumbel-softmax through `F.gumbel_softmax` (textgan draws the noise directly);
- sampling with `torch.multinomial` on softmax probabilities (textgan: inverse CDF);
- log-probabilities by `log_softmax` + `nll_loss`, or a dense one-hot mask in the REINFORCE loss;
- RelGAN's D on real token ids through a dense one-hot @ embedding, and max-over-time pooling of the
  FULL ReLU'd convolution responses with autograd (textgan recomputes only the winning windows);
- SeqGAN's Monte-Carlo rollouts: for every rollout and every prefix length, the generator re-run
  from the start over the prefix, the completion sampled step by step, and the batch scored by the
  plain D forward (textgan: one batched pass reusing every prefix's state, a tabulated D scorer).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textgan.core.objective import Objective
from textgan.text.discriminators import RelGANDiscriminator, SeqGANDiscriminator
from textgan.text.game import GumbelGame, PolicyGradientGame, TextGame
from textgan.text.generators import LSTMGenerator, RelationalMemoryGenerator, State, TextGenerator
from textgan.text.signals import reinforce_loss


def naive_rmc_step(G: RelationalMemoryGenerator,
                   prev_tokens: Tensor, memory: Tensor) -> tuple[Tensor, Tensor]:
    """One relational-memory step as RelGAN's code writes it: logits (B, V) and the new memory."""
    b, n, w = memory.shape
    x = G.input_proj(G.embedding(prev_tokens))[:, None]  # (B, 1, W)
    rows = torch.cat([memory, x], dim=1)
    qkv = G.qkv_norm(G.qkv(rows)).view(b, n + 1, G.num_heads, 3 * G.head_size).transpose(1, 2)
    q, k, v = qkv.chunk(3, dim=-1)
    weights = torch.softmax(q * (3 * G.head_size) ** -0.5 @ k.transpose(-1, -2), dim=-1)
    att = (weights @ v).transpose(1, 2).reshape(b, n + 1, w)
    h = G.attn_norm(rows + att)
    h = G.mlp_norm(h + G.mlp(h))[:, :n]
    in_gate, forget_gate = (G.gate_memory(memory.tanh()) + G.gate_input(x)).chunk(2, dim=-1)
    memory = in_gate.sigmoid() * h.tanh() + (forget_gate + 1.0).sigmoid() * memory
    return G.out(memory.flatten(1)), memory


def naive_step(G: TextGenerator, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
    """One generator step: the unfolded relational memory, or `nn.LSTM` on a length-1 sequence."""
    if isinstance(G, RelationalMemoryGenerator):
        logits, memory = naive_rmc_step(G, prev_tokens, state[0])
        return logits, (memory,)
    if isinstance(G, LSTMGenerator):
        h, c = state
        out, (h, c) = G.lstm(G.embedding(prev_tokens)[:, None], (h[None], c[None]))
        return G.out(out[:, 0]), (h[0], c[0])
    raise TypeError(f"no naive step for {type(G).__name__}")


def naive_run(G: TextGenerator, inputs: Tensor) -> tuple[Tensor, State]:
    """Logits (B, L, V) after each of the inputs (B, L) fed from the initial state, and the final state:
    the fused `nn.LSTM` for SeqGAN's generator, a loop of naive steps for the relational memory."""
    if isinstance(G, LSTMGenerator):
        out, (h, c) = G.lstm(G.embedding(inputs))
        return G.out(out), (h[0], c[0])
    state = G.init_state(len(inputs))
    logits = []
    for t in range(inputs.shape[1]):
        step_logits, state = naive_step(G, inputs[:, t], state)
        logits.append(step_logits)
    return torch.stack(logits, dim=1), state


def naive_log_softmax(G: TextGenerator, tokens: Tensor) -> Tensor:
    """Teacher-forced log-probabilities (B, T, V) of every token."""
    inputs = torch.cat([G.bos(len(tokens))[:, None], tokens[:, :-1]], dim=1)
    return F.log_softmax(naive_run(G, inputs)[0], dim=-1)


@torch.no_grad()
def naive_sample(G: TextGenerator, n: int, seq_len: int) -> Tensor:
    """n sequences drawn token by token with `torch.multinomial`."""
    tokens = torch.empty(n, seq_len, dtype=torch.long, device=G.bos(1).device)
    prev, state = G.bos(n), G.init_state(n)
    for t in range(seq_len):
        logits, state = naive_step(G, prev, state)
        prev = tokens[:, t] = torch.multinomial(torch.softmax(logits, dim=-1), 1)[:, 0]
    return tokens


def naive_gumbel_sample(G: TextGenerator, n: int, seq_len: int, tau: float, hard: bool = False) -> Tensor:
    """Soft one-hots (n, T, V) through `F.gumbel_softmax`; the next input is the argmax token."""
    prev, state = G.bos(n), G.init_state(n)
    soft = []
    for _ in range(seq_len):
        logits, state = naive_step(G, prev, state)
        y = F.gumbel_softmax(logits, tau=tau, hard=hard)
        prev = y.argmax(-1)
        soft.append(y)
    return torch.stack(soft, dim=1)


def naive_discriminator(D: nn.Module, x: Tensor) -> Tensor:
    """The discriminators' forward without textgan's shortcuts: RelGAN's takes real ids as dense
    one-hots and max-pools its full ReLU'd responses with autograd; SeqGAN's applies the ReLU before
    the max. Same outputs as `D(x)` (up to float rounding)."""
    if isinstance(D, RelGANDiscriminator):
        one_hot = x if x.is_floating_point() else F.one_hot(x, D.embedding.num_embeddings).float()
        e = (one_hot @ D.embedding.weight).unsqueeze(1)  # (B, 1, T, E)
        pooled = torch.cat([F.relu(conv(e)).amax(2) for conv in D.convs], dim=1)  # (B, F, num_rep)
        h = pooled.transpose(1, 2).flatten(0, 1)  # (B * num_rep, F), sample-major
        return D.out(D.fc(D.dropout(D.highway(h)))).squeeze(-1)
    if isinstance(D, SeqGANDiscriminator):
        e = (x @ D.embedding.weight if x.is_floating_point() else D.embedding(x)).transpose(1, 2)
        pooled = torch.cat([F.relu(conv(e)).amax(-1) for conv in D.convs], dim=1)
        return D.out(D.dropout(D.highway(pooled))).squeeze(-1)
    raise TypeError(f"no naive forward for {type(D).__name__}")


@torch.no_grad()
def naive_rollout_rewards(G: TextGenerator, samples: Tensor, D: nn.Module, num_rollouts: int = 16) -> Tensor:
    """SeqGAN's rewards (B, T) as SeqGAN and TextGAN-PyTorch compute them: for each rollout and each
    prefix length, G re-run from the start over the prefix, the rest sampled with `torch.multinomial`,
    sigmoid(D) of the plain forward (eval mode) on the completed batch; the last position scores the
    samples themselves. Same estimator as `textgan.text.signals.mc_rollout_rewards`."""
    b, t_len = samples.shape
    was_training = D.training
    D.eval()
    try:
        rewards = torch.zeros(num_rollouts, t_len, b, device=samples.device)
        for i in range(num_rollouts):
            for given in range(1, t_len):
                out = samples.clone()
                inputs = torch.cat([G.bos(b)[:, None], samples[:, :given]], dim=1)
                logits, state = naive_run(G, inputs)
                logits = logits[:, -1]
                for t in range(given, t_len):
                    out[:, t] = torch.multinomial(torch.softmax(logits, dim=-1), 1)[:, 0]
                    if t < t_len - 1:
                        logits, state = naive_step(G, out[:, t], state)
                rewards[i, given - 1] = naive_discriminator(D, out).sigmoid()
            rewards[i, t_len - 1] = naive_discriminator(D, samples).sigmoid()
    finally:
        D.train(was_training)
    return rewards.mean(0).T.contiguous()


class _NaiveText:
    """The naive MLE loss and discriminator forward, mixed into a text game class."""

    generator: TextGenerator
    discriminator: nn.Module

    def pretrain_loss(self, batch_size: int) -> Tensor:
        batch = self.real_batch()
        log_probs = naive_log_softmax(self.generator, batch)
        return F.nll_loss(log_probs.view(-1, log_probs.shape[-1]), batch.view(-1))

    def discriminate(self, x: Tensor) -> Tensor:
        return naive_discriminator(self.discriminator, x).reshape(-1)


class NaiveGumbelGame(_NaiveText, GumbelGame):
    """RelGAN's steps, naive: `F.gumbel_softmax`, unfolded memory steps, the full-response D."""

    def fake_batch(self, batch_size: int) -> Tensor:
        return naive_gumbel_sample(self.generator, batch_size, self.seq_len, tau=1.0 / self.beta,
                                   hard=self.model_cfg.straight_through)


class NaivePolicyGradientGame(_NaiveText, PolicyGradientGame):
    """SeqGAN's steps, naive: multinomial sampling, prefix-rerunning rollouts, dense one-hot REINFORCE."""

    def fake_batch(self, batch_size: int) -> Tensor:
        return naive_sample(self.generator, batch_size, self.seq_len)

    def generator_loss(self, objective: Objective, batch_size: int) -> tuple[Tensor, dict[str, float]]:
        m, G = self.model_cfg, self.generator
        if m.pg_reward == "maligan":
            raise NotImplementedError("the naive reference covers SeqGAN's rollout rewards only")
        samples = naive_sample(G, batch_size, self.seq_len)
        rewards = naive_rollout_rewards(G, samples, self.discriminator, m.rollouts)
        one_hot = F.one_hot(samples, G.vocab_size).float()
        log_probs = (naive_log_softmax(G, samples) * one_hot).sum(-1)
        baseline = "mean" if m.pg_reward == "reinforce-baseline" else None
        return reinforce_loss(log_probs, rewards, baseline), {"reward_mean": rewards.mean().item()}


def naive_game(game: TextGame) -> TextGame:
    """A view of `game` whose steps are the naive ones. It shares the game's attribute dict, hence its
    generator, discriminator, batches and temperature: swapping `trainer.game` between the two times
    both versions on the same weights with the trainer's own optimisers and bookkeeping."""
    cls = NaiveGumbelGame if isinstance(game, GumbelGame) else NaivePolicyGradientGame
    naive = object.__new__(cls)
    naive.__dict__ = game.__dict__
    return naive
