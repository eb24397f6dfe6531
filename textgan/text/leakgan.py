"""LeakGAN (Guo et al., AAAI 2018): a generator that reads the discriminator's feature layer.

The CNN discriminator (SeqGAN's) leaks its feature vector f_n of every prefix of length n (tokens not
yet written are a blank id D has one extra embedding row for). A manager LSTM reads f_n and emits a
unit goal g_n in feature space; a worker LSTM reads the previous token, and its output is combined
with the goal embedding w = normalize(psi(G)) of the goals of the last block of c = `step_size` tokens:
tokens cj .. cj+c-1 follow G_j = g_{c(j-1)+1} + ... + g_{cj} (G_0 is a learned initial goal), so the
logits are O_t w with O_t the worker's (vocab x k) output. The two are trained separately, as in the
paper (after FeUdal networks): the manager to point its goals where D's features go, the worker by
REINFORCE with an intrinsic reward for following the goals:

    manager: -Q_j cos(f_{c(j+1)} - f_{cj}, G_j)        (MLE phase: Q_j = 1, on real text)
    worker:  -cos(f_{t+1} - f_{cj}, G_j) log p(x_t)   (MLE phase: the token cross-entropy)

with Q_j the mean of sigmoid(D) over Monte-Carlo completions at the end of block j (the sample itself
for the last block), passed through the bootstrapped rescaled activation. The goal reaches the worker
detached: the worker's objective never moves the manager.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textgan.config import Recipe
from textgan.core.objective import Objective
from textgan.doctor.remedies import Change, scaled_lrs
from textgan.errors import UserError
from textgan.text.data import TextData
from textgan.text.discriminators import SeqGANDiscriminator
from textgan.text.game import ModelConfig, PolicyGradientGame, build_discriminator, init_normal
from textgan.text.generators import LinearOutputGenerator, State, lstm_cell
from textgan.text.signals import mc_rollout_rewards


def rescaled_activation(rewards: Tensor, delta: float) -> Tensor:
    """LeakGAN's bootstrapped rescaled activation of rewards (B, J): in each column, the i-th reward
    becomes sigmoid(delta * (0.5 - rank(i) / B)) with rank 1 for the highest (ties: the earlier row
    ranks higher). Only the order within the batch counts, so the scale of D's outputs drops out."""
    b = rewards.shape[0]
    order = rewards.argsort(dim=0, descending=True, stable=True)
    ranks = torch.empty_like(order).scatter_(0, order, torch.arange(1, b + 1, device=rewards.device)
                                              .unsqueeze(1).expand_as(order).contiguous())
    return torch.sigmoid(delta * (0.5 - ranks.to(rewards.dtype) / b))


def block_bounds(seq_len: int, step: int) -> list[tuple[int, int]]:
    """(start, end) of each block of `step` tokens; the last may be shorter."""
    return [(s, min(s + step, seq_len)) for s in range(0, seq_len, step)]


def manager_cosines(features: Tensor, goals: Tensor, step: int) -> Tensor:
    """cos(f_end - f_start, G_j) (B, J) of each block's feature change and the goal followed in it,
    from prefix features (B, T+1, F) and block goals (B, J, F)."""
    bounds = block_bounds(features.shape[1] - 1, step)
    changes = torch.stack([features[:, end] - features[:, start] for start, end in bounds], dim=1)
    return F.cosine_similarity(changes, goals, dim=-1)


def worker_rewards(features: Tensor, goals: Tensor, step: int) -> Tensor:
    """The worker's intrinsic reward (B, T): cos(f_{t+1} - f_{cj}, G_j) for token t of block j, the
    feature change since the block began against the goal the worker follows in it."""
    t_len = features.shape[1] - 1
    starts = torch.arange(t_len, device=features.device) // step
    changes = features[:, 1:] - features[:, starts * step]
    return F.cosine_similarity(changes, goals[:, starts], dim=-1)


class LeakedFeatures:
    """D's feature layer as the generator reads it: token ids (N, T) -> (N, F), without gradients, D
    in eval mode. Tabulated once per state of D's weights (`SeqGANDiscriminator.scorer`), so the many
    prefixes of a sampling pass cost table lookups. The table is rebuilt after `invalidate` (the game
    calls it after every D step: torch's fused optimisers do not advance a tensor's version counter)
    and when a parameter's storage or version changes (a load, an edit by hand). Copies of the
    generator (its EMA) share this object: every copy reads the current D."""

    def __init__(self, discriminator: SeqGANDiscriminator) -> None:
        self.discriminator = discriminator
        self._version: tuple[tuple[int, int], ...] | None = None
        self._features: Any = None

    def invalidate(self) -> None:
        self._version = None

    def __call__(self, tokens: Tensor) -> Tensor:
        version = tuple((p.data_ptr(), p._version) for p in self.discriminator.parameters())
        if version != self._version:
            self._features, self._version = self.discriminator.scorer(features=True), version
        return self._features(tokens)

    @torch.no_grad()
    def logits(self, tokens: Tensor) -> Tensor:
        """D's logits (N,) in eval mode, from the same table."""
        return self.discriminator.out(self(tokens)).squeeze(-1)

    def __deepcopy__(self, memo: dict) -> LeakedFeatures:
        return self


class LeakGANGenerator(LinearOutputGenerator):
    """The manager-worker generator over `vocab_size` tokens for rows of `seq_len`, reading
    `discriminator`'s features (D must have one embedding row more than the vocabulary: the blank).

    The worker's output layer W (vocab*k x hidden) + b is kept as one bias-free linear map `out` of
    w (x) [h, 1] (k * (hidden+1) features): the same logits sum_k w_k (W_k h + b_k) without the
    (vocab x k) tensor per token. A sampling state is (worker h, c, manager h, c, the goal followed,
    the goals summed since the block began, the prefix written so far, its length).
    """

    compiled_methods = ()

    def __init__(self, vocab_size: int, seq_len: int, discriminator: SeqGANDiscriminator, emb_dim: int = 32,
                 hidden_dim: int = 32, goal_size: int = 16, step_size: int = 4, *, bos_id: int) -> None:
        super().__init__(vocab_size, bos_id)
        if discriminator.embedding.num_embeddings != vocab_size + 1:
            raise UserError("LeakGAN's discriminator needs one embedding row more than the vocabulary "
                            "(the blank after a prefix)")
        feature_dim = discriminator.out.in_features
        self.seq_len, self.step_size, self.blank = seq_len, step_size, vocab_size
        self.manager = nn.LSTM(feature_dim, hidden_dim, batch_first=True)
        self.manager_out = nn.Linear(hidden_dim, feature_dim)
        self.goal_init = nn.Parameter(0.1 * torch.randn(feature_dim))
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.worker = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.goal_embedding = nn.Linear(feature_dim, goal_size, bias=False)  # the paper's psi
        self.out = nn.Linear(goal_size * (hidden_dim + 1), vocab_size, bias=False)
        self.leaked = LeakedFeatures(discriminator)

    def load_discriminator(self, state: dict[str, Tensor]) -> None:
        """Load the weights of the D this generator reads (a run's checkpoint), on its device."""
        d = self.leaked.discriminator
        d.load_state_dict(state)
        d.to(self._device()).eval()
        self.leaked.invalidate()

    def _combine(self, h: Tensor, goal: Tensor) -> Tensor:
        """The output layer's features w (x) [h, 1] from worker outputs h (..., H) and goals (..., F)."""
        w = F.normalize(self.goal_embedding(goal.detach()), dim=-1)
        h1 = torch.cat([h, torch.ones_like(h[..., :1])], dim=-1)
        return (w.unsqueeze(-1) * h1.unsqueeze(-2)).flatten(-2)

    def prefix_features(self, tokens: Tensor) -> Tensor:
        """D's features of every prefix of `tokens` (B, T): (B, T+1, F), prefix length 0 .. T."""
        b, t_len = tokens.shape
        positions = torch.arange(t_len + 1, device=tokens.device)
        keep = positions[None, :-1] < positions[:, None]  # (T+1, T): row n keeps the first n tokens
        prefixes = torch.where(keep[:, None], tokens, self.blank)  # (T+1, B, T)
        return self.leaked(prefixes.flatten(0, 1)).view(t_len + 1, b, -1).transpose(0, 1)

    def teacher_forced(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The output features (B, T, k(H+1)), the block goals G_j (B, J, F) with their gradient to the
        manager, and D's prefix features (B, T+1, F) of `tokens`."""
        features = self.prefix_features(tokens)
        m, _ = self.manager(features[:, :-1])
        g = F.normalize(self.manager_out(m), dim=-1)
        c = self.step_size
        goals = [self.goal_init.expand(len(tokens), -1)]
        goals += [g[:, start - c + 1 : start + 1].sum(1) for start, _ in block_bounds(tokens.shape[1], c)[1:]]
        goals_t = torch.stack(goals, dim=1)
        h, _ = self.worker(self.embedding(self._shift_right(tokens)))
        per_token = goals_t.repeat_interleave(c, dim=1)[:, : tokens.shape[1]]
        return self._combine(h, per_token), goals_t, features

    def features(self, tokens: Tensor) -> Tensor:
        return self.teacher_forced(tokens)[0]

    def init_state(self, batch_size: int) -> State:
        device = self._device()
        h = torch.zeros(batch_size, self.worker.hidden_size, device=device)
        goal = self.goal_init.expand(batch_size, -1)
        prefix = torch.full((batch_size, self.seq_len), self.blank, dtype=torch.long, device=device)
        return (h, h, h, h, goal, torch.zeros_like(goal), prefix,
                torch.zeros(batch_size, dtype=torch.long, device=device))

    def step_features(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        h_w, c_w, h_m, c_m, goal, summed, prefix, length = state
        started = length > 0
        at = (length - 1).clamp_min(0)[:, None]
        written = torch.where(started[:, None], prev_tokens[:, None], prefix.gather(1, at))
        prefix = prefix.scatter(1, at, written)  # the token fed is the prefix's last (none at the start)
        h_m, c_m = lstm_cell(self.manager, self.leaked(prefix), h_m, c_m)
        g = F.normalize(self.manager_out(h_m), dim=-1)
        summed = summed + g * started[:, None]
        new_block = (started & (length % self.step_size == 0))[:, None]
        goal = torch.where(new_block, summed, goal)
        summed = torch.where(new_block, 0.0, summed)
        h_w, c_w = lstm_cell(self.worker, self.embedding(prev_tokens), h_w, c_w)
        return self._combine(h_w, goal), (h_w, c_w, h_m, c_m, goal, summed, prefix, length + 1)


def doctor_changes(pitfall: str, config: dict[str, Any]) -> list[Change]:
    """LeakGAN learns by policy gradient whatever `model.signal` says: against collapse, smaller steps
    for both players."""
    return scaled_lrs(config, 0.5, "smaller policy-gradient steps") if pitfall == "mode_collapse" else []


def build_generator(cfg: ModelConfig, vocab_size: int, bos_id: int, seq_len: int) -> LeakGANGenerator:
    """The recipe's LeakGAN generator with the discriminator it reads (`generator.leaked`)."""
    d = build_discriminator(cfg, vocab_size + 1, seq_len)  # one row more: the blank after a prefix
    assert isinstance(d, SeqGANDiscriminator)  # ModelConfig.validate requires model.discriminator seqgan
    generator = LeakGANGenerator(vocab_size, seq_len, d, cfg.emb_dim, cfg.hidden_dim, cfg.goal_size,
                                 cfg.step_size, bos_id=bos_id)
    init_normal(generator, cfg.g_init_std)
    return generator


class LeakGANGame(PolicyGradientGame):
    """LeakGAN on the shared core: fakes are sampled token ids, D is the leaking CNN, G's step trains
    manager and worker on their own objectives, and MLE trains both on real text (also interleaved
    into adversarial training by `train.mle_every`)."""

    generator: LeakGANGenerator
    # the manager's goals live in this D's feature space: a generator started without its D follows
    # goals that point nowhere
    init_from_parts = ("generator", "discriminator")

    @classmethod
    def make_generator(cls, cfg: ModelConfig, vocab_size: int, bos_id: int, seq_len: int,
                       token_ids: list[int | None] | None, categories: tuple[str, ...]) -> nn.Module:
        return build_generator(cfg, vocab_size, bos_id, seq_len)

    def __init__(self, recipe: Recipe, device: torch.device, data: TextData) -> None:
        super().__init__(recipe, device, data)
        if self.seq_len <= recipe.model.step_size:
            raise UserError(f"model.step_size {recipe.model.step_size} leaves no second block in rows of "
                            f"{self.seq_len} tokens: take a smaller step_size")

    def make_discriminator(self, cfg: ModelConfig, data: TextData) -> nn.Module:
        return self.generator.leaked.discriminator

    def _scorer(self) -> Any:
        return self.generator.leaked.logits

    def after_d_step(self, d_real: Tensor, d_fake: Tensor) -> dict[str, float]:
        self.generator.leaked.invalidate()  # D has moved: the generator reads its new features
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.generator.leaked.invalidate()  # a resume or a rollback has loaded D's weights

    def pretrain_loss(self, batch_size: int) -> Tensor:
        """The worker's token cross-entropy on a real batch; its value is that alone (nats per token,
        like every family's MLE loss), its gradient also carries the manager's pre-training objective
        -cos(f_end - f_start, G_j) (the manager learns the directions real text takes in D's features)."""
        G, real = self.generator, self.real_batch()
        z, goals, features = G.teacher_forced(real)
        nll = -G.log_probs_of(z, real).mean()
        manager = -manager_cosines(features, goals, G.step_size).mean()
        return nll + (manager - manager.detach())

    def generator_loss(self, objective: Objective, batch_size: int) -> tuple[Tensor, dict[str, float]]:
        """The manager's loss -Q cos(feature change, goal) with rescaled Monte-Carlo rewards Q, plus the
        worker's REINFORCE loss with the intrinsic reward, on a batch of G's own samples."""
        G, m = self.generator, self.model_cfg
        samples = G.sample(batch_size, self.seq_len)
        with torch.no_grad():
            q = mc_rollout_rewards(G, samples, self._scorer(), m.rollouts, stride=G.step_size)
        z, goals, features = G.teacher_forced(samples)
        rewards = rescaled_activation(q, m.leak_delta)
        manager_loss = -(rewards * manager_cosines(features, goals, G.step_size)).mean()
        intrinsic = worker_rewards(features, goals, G.step_size).detach()
        worker_loss = -(intrinsic * G.log_probs_of(z, samples)).mean()
        return manager_loss + worker_loss, {
            "reward_mean": q.mean().item(), "intrinsic_reward_mean": intrinsic.mean().item(),
            "manager_loss": manager_loss.item(), "worker_loss": worker_loss.item()}
