"""CatGAN (Liu et al., AAAI 2020): one category-conditional generator trained with Gumbel-softmax
against a category discriminator, by hierarchical evolutionary learning.

- Generator: one network for all categories, the one-hot of the category concatenated to every
  input embedding, as TextGAN-PyTorch's `CatGAN_G` does (its `cat_mat` is a fixed identity): the
  paper's relational memory (`CategoryRMCGenerator`, `model.generator: rmc`) or, CPU-sized, an LSTM
  (`CategoryLSTMGenerator`, `lstm`).
- Discriminator: RelGAN's CNN with one realness head per category (`RelGANDiscriminator(outputs=k)`).
  The loss is category-wise (the paper's "gap between real and generated samples on each
  category"): the recipe's relativistic loss between the reals and the fakes of category c, both
  scored by head c, summed over the categories (`own_heads`). TextGAN-PyTorch pairs the
  categories the same way but scores them with one shared head, which cannot tell a category's
  sentences from another's; a head per category can.
- Hierarchical evolutionary learning (`generator_phase`): each adversarial iteration, from the same
  parent (weights and optimiser state), one child per G loss in `mutations` (the paper's and
  TextGAN-PyTorch's `mu_type`, RaGAN and RSGAN) and, within each, per inverse temperature among
  RelGAN's schedule at the current step and `evo_temp_step` steps later and earlier (its
  `get_evo_temp`): each child takes the generator step(s), the fittest temperature by quality
  survives within its loss, then the fittest loss by quality + `lambda_fd` * diversity becomes the
  next parent (one parent, as TextGAN-PyTorch's `n_parent = 1`). Quality is TextGAN-PyTorch's 'Ra'
  score, the mean of sigmoid(D_c(fake) - mean D_c(real)); diversity its NLL_div, the generator's
  NLL of its own samples. Every child meets the same real batch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from textgan.config import Recipe
from textgan.core.losses import LOSSES
from textgan.core.objective import Objective
from textgan.core.steps import Players
from textgan.errors import UserError
from textgan.metrics.nll import nll_div
from textgan.text.conditional import ConditionalGenerator, ConditionalTextGame
from textgan.text.data import TextData
from textgan.text.discriminators import RelGANDiscriminator, init_like_relgan
from textgan.text.game import ModelConfig, init_normal
from textgan.text.generators import LinearOutputGenerator, RelationalMemoryGenerator, State, TextGenerator
from textgan.text.signals import temperature


class OneNetworkGenerator(ConditionalGenerator):
    """One network for every category, the category one of its inputs: subclasses give teacher-forced
    `features(tokens, labels)`, `init_state(labels)`, `step_features` and the output layer `out`."""

    out: nn.Linear

    def features(self, tokens: Tensor, labels: Tensor) -> Tensor:
        raise NotImplementedError

    def init_state(self, labels: Tensor) -> State:
        raise NotImplementedError

    def step_features(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        raise NotImplementedError

    def category(self, c: int) -> TextGenerator:
        return CategoryView(self, c)

    def log_probs(self, tokens: Tensor, labels: Tensor) -> Tensor:
        logits = self.out(self.features(tokens, labels))
        return -F.cross_entropy(logits.flatten(0, 1), tokens.flatten(), reduction="none").view_as(tokens)


class CategoryLSTMGenerator(OneNetworkGenerator):
    """An LSTM over [token embedding; one-hot category]; the category rides in the state (B,), so
    states of rows of any categories repeat and concatenate like any other."""

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, n_categories: int, *,
                 bos_id: int) -> None:
        super().__init__()
        self.vocab_size, self.bos_id, self.n_categories = vocab_size, bos_id, n_categories
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.lstm = nn.LSTM(emb_dim + n_categories, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, vocab_size)

    def _inputs(self, tokens: Tensor, labels: Tensor) -> Tensor:
        one_hot = F.one_hot(labels, self.n_categories).to(self.embedding.weight.dtype)
        return torch.cat([self.embedding(tokens), one_hot.expand(*tokens.shape, -1)], dim=-1)

    def features(self, tokens: Tensor, labels: Tensor) -> Tensor:
        """Teacher-forced features (B, T, H) of rows of categories `labels` (B,)."""
        bos = torch.full_like(tokens[:, :1], self.bos_id)
        h, _ = self.lstm(self._inputs(torch.cat([bos, tokens[:, :-1]], dim=1), labels[:, None]))
        return h

    def init_state(self, labels: Tensor) -> State:
        h = torch.zeros(len(labels), self.lstm.hidden_size, device=self.out.weight.device)
        return h, torch.zeros_like(h), labels

    def step_features(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        h, c, labels = state
        lstm = self.lstm
        gates = (F.linear(self._inputs(prev_tokens, labels), lstm.weight_ih_l0, lstm.bias_ih_l0)
                 + F.linear(h, lstm.weight_hh_l0, lstm.bias_hh_l0))
        i, f, g, o = gates.chunk(4, dim=-1)  # PyTorch's gate order
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return h, (h, c, labels)



class CategoryRMCGenerator(OneNetworkGenerator):
    """RelGAN's relational memory over [token embedding; one-hot category]: the input projection of
    the concatenation is the token's projection plus a learnt column per category (`category_in`),
    which then reaches the memory's q/k/v and gate terms as the token's does. The category rides in
    the state beside the memory."""

    def __init__(self, vocab_size: int, emb_dim: int, mem_slots: int, num_heads: int, head_size: int,
                 n_categories: int, *, bos_id: int) -> None:
        super().__init__()
        self.vocab_size, self.bos_id, self.n_categories = vocab_size, bos_id, n_categories
        self.core = RelationalMemoryGenerator(vocab_size, emb_dim, mem_slots, num_heads, head_size,
                                              bos_id=bos_id)
        self.category_in = nn.Linear(n_categories, num_heads * head_size, bias=False)

    @property
    def out(self) -> nn.Linear:
        """The core's output layer (registered once, under `core`)."""
        return self.core.out

    def _project(self, tokens: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The core's input terms of `tokens` with their category's column added where the input enters."""
        core = self.core
        x, x_qkv, x_gate = core._project(tokens)
        v = self.category_in.weight.t()[labels]  # (..., width): W [e; one-hot] = W_e e + W_c[:, c]
        return x + v, x_qkv + v @ core.qkv.weight.t(), x_gate + v @ core.gate_input.weight.t()

    def features(self, tokens: Tensor, labels: Tensor) -> Tensor:
        """Teacher-forced features (B, T, memory width) of rows of categories `labels` (B,)."""
        xs, qkvs, gates = self._project(self.core._shift_right(tokens), labels[:, None])
        (memory,) = self.core.init_state(len(tokens))
        outputs = []
        for t in range(tokens.shape[1]):
            memory = self.core._update(xs[:, t], qkvs[:, t], gates[:, t], memory)
            outputs.append(memory.flatten(1))
        return torch.stack(outputs, dim=1)

    def init_state(self, labels: Tensor) -> State:
        return (*self.core.init_state(len(labels)), labels)

    def step_features(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        memory, labels = state
        memory = self.core._update(*self._project(prev_tokens, labels), memory)
        return memory.flatten(1), (memory, labels)



class CategoryView(LinearOutputGenerator):
    """The conditional generator with its category fixed: an ordinary `TextGenerator` (sharing the
    conditional one's parameters) for sampling, Gumbel sampling and NLL."""

    def __init__(self, net: OneNetworkGenerator, category: int) -> None:
        super().__init__(net.vocab_size, net.bos_id)
        self.net, self.out, self.c = net, net.out, category

    def _labels(self, n: int) -> Tensor:
        return torch.full((n,), self.c, dtype=torch.long, device=self.out.weight.device)

    def features(self, tokens: Tensor) -> Tensor:
        return self.net.features(tokens, self._labels(len(tokens)))

    def init_state(self, batch_size: int) -> State:
        return self.net.init_state(self._labels(batch_size))

    def step_features(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        return self.net.step_features(prev_tokens, state)


def own_heads(logits: Tensor, k: int) -> Tensor:
    """From D's (B * num_rep, k) logits on a batch in block layout, head c's logits on the rows of
    category c, concatenated over c: (B * num_rep,), so that a real and a fake batch align pairwise."""
    per = logits.view(k, len(logits) // k, k)  # (category block, rows of the block, head)
    return per[torch.arange(k), :, torch.arange(k)].reshape(-1)


GStep = Callable[[Players, int], dict[str, float]]  # `core.steps.g_step`


@dataclass
class Child:
    """A variation of the parent: its weights and optimiser state, its settings and its fitness."""

    weights: dict[str, Tensor]
    optimiser: dict[str, Any]
    mutation: str
    beta: float
    quality: float
    diversity: float
    stats: dict[str, float]


class CatGANGame(ConditionalTextGame):
    """CatGAN on the shared core (module docstring); the fakes are Gumbel-softmax soft one-hots at the
    inverse temperature `beta` the last selection kept."""

    def __init__(self, recipe: Recipe, device: torch.device, data: TextData) -> None:
        if recipe.model.generator not in ("lstm", "rmc"):
            raise UserError("CatGAN's conditional generator is an LSTM or a relational memory: set "
                            "model.generator to lstm or rmc")
        super().__init__(recipe, device, data)
        self.beta, self.mutation = 1.0, recipe.loss.name
        self._iteration, self._horizon = 1, 2
        self._shared_real: Tensor | None = None

    @classmethod
    def make_generator(cls, cfg: ModelConfig, vocab_size: int, bos_id: int, seq_len: int,
                       token_ids: list[int | None] | None, categories: tuple[str, ...]) -> nn.Module:
        k = len(categories)
        generator: ConditionalGenerator
        if cfg.generator == "rmc":
            generator = CategoryRMCGenerator(vocab_size, cfg.emb_dim, cfg.mem_slots, cfg.num_heads,
                                             cfg.head_size, k, bos_id=bos_id)
        else:
            generator = CategoryLSTMGenerator(vocab_size, cfg.emb_dim, cfg.hidden_dim, k, bos_id=bos_id)
        init_normal(generator, cfg.g_init_std)
        return generator

    def make_discriminator(self, cfg: ModelConfig, data: TextData) -> nn.Module:
        filters = ({"filter_sizes": tuple(cfg.d_filter_sizes), "num_filters": tuple(cfg.d_num_filters)}
                   if cfg.d_filter_sizes else {})
        d = RelGANDiscriminator(data.vocab_size, data.seq_len, cfg.d_emb_dim, cfg.num_rep,
                                dropout=cfg.d_dropout, shared_highway=cfg.d_shared_highway,
                                outputs=len(data.categories), **filters)
        if cfg.d_init == "relgan":
            init_like_relgan(d)
        return d

    # ------------------------------------------------------------------ the players' inputs and losses
    def on_step(self, step: int, total_steps: int) -> dict[str, float]:
        self._iteration, self._horizon = step, max(2, self.model_cfg.temperature_horizon or total_steps)
        return {"beta": self.beta}

    def discriminate(self, x: Tensor) -> Tensor:
        """D's realness averaged over the category heads (for the core's over-fitting probes)."""
        return self.discriminator(x).mean(-1)

    def _fakes(self, batch_size: int, beta: float) -> Tensor:
        per = batch_size // self.k
        return torch.cat([self.generator.category(c).gumbel_sample(per, self.seq_len, tau=1.0 / beta)[1]
                          for c in range(self.k)])

    def fake_batch(self, batch_size: int) -> Tensor:
        """batch_size/k soft one-hots of each category, in block layout."""
        return self._fakes(batch_size, self.beta)

    def discriminator_loss(self, objective: Objective, real: Tensor,
                           fake: Tensor) -> tuple[Tensor, Tensor, Tensor, dict[str, float]]:
        """The recipe's loss between category c's reals and fakes under head c, summed over c."""
        d_real = own_heads(self.discriminator(real), self.k)
        d_fake = own_heads(self.discriminator(fake), self.k)
        per = len(d_real) // self.k
        loss = sum(objective.loss.d_loss(r.float(), f.float(), objective.cfg.label_smoothing)
                   for r, f in zip(d_real.split(per), d_fake.split(per)))
        return loss, d_real, d_fake, {}

    def generator_loss(self, objective: Objective, batch_size: int) -> tuple[Tensor, dict[str, float]]:
        """The current mutation's G loss between category c's fakes and reals under head c, summed."""
        real = self._shared_real if self._shared_real is not None else self.real_batch()
        d_real = own_heads(self.discriminator(real), self.k)
        d_fake = own_heads(self.discriminator(self.fake_batch(batch_size)), self.k)
        per = len(d_real) // self.k
        g_loss = LOSSES[self.mutation].g_loss
        return sum(g_loss(r.float(), f.float()) for r, f in zip(d_real.split(per), d_fake.split(per))), {}

    # ------------------------------------------------------------------ hierarchical evolution
    def candidate_betas(self) -> list[float]:
        """The inverse temperatures a mutation tries: RelGAN's schedule at the current step, and
        `evo_temp_step` steps later and (once past them) earlier; only the current one when 0."""
        m, i, n = self.model_cfg, self._iteration - 1, self._horizon
        offsets = [0] if not m.evo_temp_step else [0, m.evo_temp_step] + ([-m.evo_temp_step]
                                                                           if i > m.evo_temp_step else [])
        betas = [temperature(i + o, n, m.beta_max, m.temperature) for o in offsets]
        return list(dict.fromkeys(betas))

    @torch.no_grad()
    def fitness(self, real: Tensor) -> tuple[float, float]:
        """(quality, diversity) of the generator as it is: the mean over the categories of
        sigmoid(D_c(fake) - mean D_c(real)) on `evo_eval_rows` soft fakes of each at its beta, D in
        eval mode; and (with `lambda_fd`) the mean NLL of each category's generator on its own samples."""
        was_training = self.discriminator.training
        self.discriminator.eval()
        try:
            fake = self._fakes(self.model_cfg.evo_eval_rows * self.k, self.beta)
            d_fake = own_heads(self.discriminator(fake), self.k)
            d_real = own_heads(self.discriminator(real), self.k)
        finally:
            self.discriminator.train(was_training)
        quality = torch.stack([torch.sigmoid(f - r.mean()).mean() for f, r in
                               zip(d_fake.chunk(self.k), d_real.chunk(self.k))]).mean().item()
        diversity = 0.0
        if self.model_cfg.lambda_fd:
            data = self.data
            rows = self.model_cfg.evo_eval_rows
            diversity = sum(nll_div(g, g.sample(rows, self.seq_len), pad_id=data.pad_id, eos_id=data.eos_id)
                            for g in map(self.generator.category, range(self.k))) / self.k
        return quality, diversity

    def _variation(self, players: Players, step: int, g_steps: int, g_step: GStep,
                   parent: tuple[dict, dict], mutation: str, beta: float) -> Child:
        """One child: the parent's weights and optimiser state, `g_steps` steps of `mutation` at `beta`."""
        G, optimizer = self.generator, players.g.optimizer
        G.load_state_dict(parent[0])
        optimizer.load_state_dict(copy.deepcopy(parent[1]))  # the optimiser steps its state in place
        self.mutation, self.beta = mutation, beta
        stats: dict[str, float] = {}
        for _ in range(g_steps):
            stats.update(g_step(players, step))
        assert self._shared_real is not None
        quality, diversity = self.fitness(self._shared_real)
        return Child(copy.deepcopy(G.state_dict()), copy.deepcopy(optimizer.state_dict()), mutation, beta,
                     quality, diversity, stats)

    def generator_phase(self, players: Players, step: int, g_steps: int, g_step: GStep) -> dict[str, float]:
        """Vary, evaluate, select (module docstring); the EMA follows the survivor only."""
        m = self.model_cfg
        parent = (copy.deepcopy(self.generator.state_dict()), copy.deepcopy(players.g.optimizer.state_dict()))
        ema, players.ema = players.ema, None
        self._shared_real = self.real_batch()
        best: Child | None = None
        try:
            for mutation in m.mutations:
                kept: Child | None = None
                for beta in self.candidate_betas():
                    child = self._variation(players, step, g_steps, g_step, parent, mutation, beta)
                    if kept is None or child.quality > kept.quality:
                        kept = child
                assert kept is not None
                if best is None or (kept.quality + m.lambda_fd * kept.diversity
                                    > best.quality + m.lambda_fd * best.diversity):
                    best = kept
        finally:
            players.ema, self._shared_real = ema, None
        assert best is not None
        self.generator.load_state_dict(best.weights)
        players.g.optimizer.load_state_dict(best.optimiser)
        self.mutation, self.beta = best.mutation, best.beta
        if ema:
            ema.update(self.generator, step)
        return {**best.stats, "beta": best.beta, "fitness_quality": best.quality,
                "fitness_diversity": best.diversity, "mutation": float(m.mutations.index(best.mutation))}

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "beta": self.beta, "mutation": self.mutation}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.beta, self.mutation = float(state["beta"]), str(state["mutation"])
