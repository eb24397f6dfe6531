"""SentiGAN (Wang & Wan, IJCAI 2018): k generators, one per category, against one (k+1)-class
discriminator, trained with the penalty-based objective and Monte-Carlo rollouts.

- Generators: k independent SeqGAN LSTMs (`GeneratorBank`); generator c is pre-trained by MLE on
  category c's sentences only.
- Discriminator: SeqGAN's CNN with k+1 outputs (class 0: fake; class c+1: real sentence of
  category c), trained by cross-entropy on the real rows (each labelled by its category) and the
  fakes of every generator together (`sentigan_d_loss`), as TextGAN-PyTorch's `CatClasDataIter`
  labels them.
- Generator c's penalty: V(Y_1:t) = 1 - D_c(Y), D_c = softmax(D(Y))[c+1], averaged over `rollouts`
  Monte-Carlo completions of each prefix (SeqGAN's rollouts with D's class-(c+1) probability as the
  reward); G_c minimises sum_t G_c(y_t | Y_1:t-1) * V(Y_1:t), the probability (not the
  log-probability) of each sampled token times its penalty (`penalty_loss`), over the tokens up to
  each sentence's EOS (the padding after it is no part of the sentence). The paper's sign:
  TextGAN-PyTorch's `batchPGLoss` negates this sum, so it maximises the penalised probability (its
  issue #54).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from textgan.config import Recipe
from textgan.core.objective import Objective
from textgan.errors import UserError
from textgan.metrics.nll import token_mask
from textgan.text.conditional import ConditionalGenerator, ConditionalTextGame
from textgan.text.data import TextData
from textgan.text.discriminators import SeqGANDiscriminator
from textgan.text.game import ModelConfig, build_generator
from textgan.text.generators import TextGenerator
from textgan.text.signals import mc_rollout_rewards

FILTER_SIZES, NUM_FILTERS = (2, 3, 4, 5), (200, 200, 200, 200)  # TextGAN-PyTorch's SentiGAN_D


class GeneratorBank(ConditionalGenerator):
    """One independent generator per category."""

    def __init__(self, generators: list[TextGenerator]) -> None:
        super().__init__()
        self.generators = nn.ModuleList(generators)
        self.n_categories = len(generators)

    def category(self, c: int) -> TextGenerator:
        return self.generators[c]


def realness(logits: Tensor) -> Tensor:
    """log P(real) - log P(fake) of (k+1)-class logits (N, k+1): D's binary verdict, one logit per row."""
    return torch.logsumexp(logits[:, 1:], dim=1) - logits[:, 0]


def class_logit(logits: Tensor, j: int) -> Tensor:
    """logit(softmax(logits)[:, j]) (N,), so that its sigmoid is the class-j probability exactly."""
    others = torch.cat([logits[:, :j], logits[:, j + 1 :]], dim=1)
    return logits[:, j] - torch.logsumexp(others, dim=1)


def sentigan_d_loss(d_real: Tensor, real_labels: Tensor, d_fake: Tensor) -> Tensor:
    """Cross-entropy of the (k+1)-class D over the reals (target: category + 1) and the fakes
    (target 0) together, each row weighing the same."""
    targets = torch.cat([real_labels + 1, torch.zeros(len(d_fake), dtype=torch.long, device=d_fake.device)])
    return F.cross_entropy(torch.cat([d_real, d_fake]).float(), targets)


def penalty_loss(log_probs: Tensor, rewards: Tensor, mask: Tensor | None = None) -> Tensor:
    """SentiGAN's generator objective, per token: G(y_t | Y_1:t-1) * (1 - D_c), averaged over the
    tokens that `mask` counts (all without one; rewards: D_c, constants)."""
    per_token = log_probs.exp() * (1.0 - rewards.detach())
    if mask is None:
        return per_token.mean()
    return (per_token * mask).sum() / mask.sum().clamp_min(1)


class SentiGANGame(ConditionalTextGame):
    """SentiGAN on the shared core: the core's D step asks `discriminator_loss` for the (k+1)-class
    loss; its G step asks `generator_loss` for the k penalties (summed: each generator's gradient is
    its own penalty's)."""

    def __init__(self, recipe: Recipe, device: torch.device, data: TextData) -> None:
        if recipe.model.discriminator != "seqgan":
            raise UserError("SentiGAN's (k+1)-class discriminator is SeqGAN's CNN: set model.discriminator "
                            "to seqgan")
        if recipe.loss.name not in ("vanilla", "ns") or recipe.loss.label_smoothing:
            raise UserError("SentiGAN's discriminator is trained by (k+1)-class cross-entropy: set loss.name "
                            "to vanilla (without label smoothing); the other losses do not apply")
        super().__init__(recipe, device, data)

    @classmethod
    def make_generator(cls, cfg: ModelConfig, vocab_size: int, bos_id: int, seq_len: int,
                       token_ids: list[int | None] | None, categories: tuple[str, ...]) -> nn.Module:
        return GeneratorBank([build_generator(cfg, vocab_size, bos_id, seq_len, token_ids)
                              for _ in categories])

    def make_discriminator(self, cfg: ModelConfig, data: TextData) -> nn.Module:
        filters = (tuple(cfg.d_filter_sizes), tuple(cfg.d_num_filters)) if cfg.d_filter_sizes else (
            FILTER_SIZES, NUM_FILTERS)
        return SeqGANDiscriminator(data.vocab_size, data.seq_len, cfg.d_emb_dim, *filters,
                                   dropout=cfg.d_dropout, shared_highway=cfg.d_shared_highway,
                                   outputs=len(data.categories) + 1)

    def discriminate(self, x: Tensor) -> Tensor:
        """D's binary verdict real-vs-fake per row (for the core's probes)."""
        return realness(self.discriminator(x))

    def fake_batch(self, batch_size: int) -> Tensor:
        """batch_size/k samples of each generator, in block layout."""
        per = batch_size // self.k
        return torch.cat([self.generator.category(c).sample(per, self.seq_len) for c in range(self.k)])

    def discriminator_loss(self, objective: Objective, real: Tensor,
                           fake: Tensor) -> tuple[Tensor, Tensor, Tensor, dict[str, float]]:
        z_real, z_fake = self.discriminator(real), self.discriminator(fake)
        labels = self.labels_of(real)
        loss = sentigan_d_loss(z_real, labels, z_fake)
        hits = (z_real.argmax(1) == labels + 1).float().mean().item()
        return loss, realness(z_real), realness(z_fake), {"d_class_acc": hits}

    def _class_scorer(self, j: int, table: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
        return lambda tokens: class_logit(table(tokens), j)

    def generator_loss(self, objective: Objective, batch_size: int) -> tuple[Tensor, dict[str, float]]:
        """For each category c: batch_size/k samples of G_c, their rollout rewards D_c, the penalty
        loss on G_c's token probabilities."""
        per = batch_size // self.k
        with torch.no_grad():
            table = self.discriminator.scorer()  # eval-mode D, tabulated for the many rollouts
        losses, rewards = [], []
        for c in range(self.k):
            g = self.generator.category(c)
            samples = g.sample(per, self.seq_len)
            with torch.no_grad():
                r = mc_rollout_rewards(g, samples, self._class_scorer(c + 1, table), self.model_cfg.rollouts)
            # a sentence ends at its EOS: the padding after it is no token to penalise
            mask = token_mask(samples, eos_id=self.data.eos_id)
            losses.append(penalty_loss(g.log_probs(samples), r, mask))
            rewards.append(r.mean())
        reward = torch.stack(rewards).mean().item()
        return torch.stack(losses).sum(), {"reward_mean": reward, "penalty_mean": 1.0 - reward}
