"""RankGAN (Lin et al., NeurIPS 2017): a ranker instead of a binary discriminator, and a generator
trained by policy gradient on the ranker's scores.

The ranker maps a sentence s to a feature y_s (SeqGAN's CNN without its output layer). Its relevance
to a reference sentence u is alpha(s|u) = cos(y_s, y_u); ranked within a comparison set C' = C + {s},

    P(s|u, C) = exp(gamma alpha(s|u)) / sum over s' in C' of exp(gamma alpha(s'|u)),

and the rank score averages over a reference set U of real sentences: R(s|U, C) = mean over u of
P(s|u, C). A real sentence is ranked among generated ones (C-), a generated one among real ones (C+).
The ranker maximises log R(real|U, C-) - log R(fake|U, C+); the generator maximises R(fake|U, C+),
with Monte-Carlo rollouts giving every prefix its expected rank score, as in SeqGAN.

What the trainer logs as D's "logits" are log(|C'| R): the log of a sentence's rank score over the
share 1/|C'| a ranker without preference gives it. Positive means ranked above chance, so d_acc_real is
the fraction of reals ranked above chance among the fakes, and d_acc_fake the fraction of fakes ranked
below chance among the reals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textgan.config import Recipe
from textgan.core.data import ShuffledBatches
from textgan.core.losses import LOSSES
from textgan.core.objective import Objective
from textgan.errors import UserError
from textgan.text.data import TextData
from textgan.text.game import ModelConfig, PolicyGradientGame, build_discriminator

__all__ = ["RankGANGame", "cosine_to_references", "log_rank_scores", "ranker_loss"]


def cosine_to_references(features: Tensor, references: Tensor) -> Tensor:
    """alpha(s|u) = cos(y_s, y_u) of every sentence's feature (N, F) with every reference's (U, F): (N, U)."""
    return F.normalize(features.float(), dim=-1) @ F.normalize(references.float(), dim=-1).T


def log_rank_scores(alpha: Tensor, alpha_others: Tensor, gamma: float) -> Tensor:
    """log R(s|U, C) (N,) of each sentence s, from its cosines to the references alpha (N, U), ranked
    among the comparison set C whose cosines are alpha_others (M, U): log of the mean over references
    of softmax over C' = C + {s} of gamma * alpha. An empty C (M = 0) ranks s alone: R = 1."""
    own = gamma * alpha
    rest = torch.logsumexp(gamma * alpha_others, dim=0)  # (U,): -inf when C is empty
    log_p = own - torch.logaddexp(own, rest)  # log P(s|u, C) for every s and u
    return torch.logsumexp(log_p, dim=1) - math.log(alpha.shape[1])


def ranker_loss(alpha_real: Tensor, alpha_fake: Tensor, gamma: float) -> tuple[Tensor, Tensor, Tensor]:
    """The ranker's loss mean log R(fake|U, C+) - mean log R(real|U, C-), each real ranked among all
    the fakes and each fake among all the reals; returns it with log R of the reals and of the fakes."""
    log_real = log_rank_scores(alpha_real, alpha_fake, gamma)
    log_fake = log_rank_scores(alpha_fake, alpha_real, gamma)
    return log_fake.mean() - log_real.mean(), log_real, log_fake


def _log_odds(log_r: Tensor) -> Tensor:
    """log(R / (1 - R)) from log R: `mc_rollout_rewards` turns it back into R with its sigmoid."""
    return log_r - torch.log(-torch.expm1(log_r))


class RankGANGame(PolicyGradientGame):
    """RankGAN on the shared core: the ranker's loss is the game's `discriminator_loss`, and the
    policy-gradient reward of a sentence is its rank score among real sentences (`_scorer`)."""

    def __init__(self, recipe: Recipe, device: torch.device, data: TextData) -> None:
        super().__init__(recipe, device, data)
        _check_loss(recipe)
        refs = recipe.model.rank_refs
        if len(data.train) < refs:
            raise UserError(f"model.rank_refs {refs} is more than the {len(data.train)} training sentences")
        # reference sets: a stream of training sentences of its own, seeded apart from the batches'
        self.references = ShuffledBatches(data.train.to(device), refs, recipe.seed + 1)
        # the references and fakes of the last ranker step, against which `discriminate` ranks
        self._context = (data.train[:refs].to(device), data.train[:0].to(device))

    def make_discriminator(self, cfg: ModelConfig, data: TextData) -> nn.Module:
        return build_discriminator(cfg, data.vocab_size, data.seq_len, head=False)

    @property
    def gamma(self) -> float:
        return self.model_cfg.rank_gamma

    def discriminator_loss(self, objective: Objective, real: Tensor,
                           fake: Tensor) -> tuple[Tensor, Tensor, Tensor, dict[str, float]]:
        """The ranker's loss (the recipe's `loss:` section has no part in it) on a real and a fake
        batch against a fresh reference set; the "logits" are log(|C'| R) (see the module)."""
        refs = self.references.next()
        self._context = (refs, fake)
        features = self.discriminator(torch.cat([real, fake, refs]))
        f_real, f_fake, f_refs = features.split([len(real), len(fake), len(refs)])
        loss, log_real, log_fake = ranker_loss(cosine_to_references(f_real, f_refs),
                                               cosine_to_references(f_fake, f_refs), self.gamma)
        return loss, log_real + math.log(len(fake) + 1), log_fake + math.log(len(real) + 1), {}

    def discriminate(self, x: Tensor) -> Tensor:
        """log(|C'| R(x|U, C-)) of each row of x, ranked among the fakes of the last ranker step against
        its references (0 before the first: no comparison set yet); the trainer's probe of D."""
        refs, fakes = self._context
        D = self.discriminator
        f_refs = D(refs)
        others = cosine_to_references(D(fakes), f_refs) if len(fakes) else f_refs.new_zeros(0, len(refs))
        log_r = log_rank_scores(cosine_to_references(D(x), f_refs), others, self.gamma)
        return log_r + math.log(len(fakes) + 1)

    def _scorer(self) -> Callable[[Tensor], Tensor]:
        """The log-odds of each sentence's rank score R(s|U, C+) among a fresh batch of reals against
        fresh references, the ranker in eval mode with its convolutions tabulated (`scorer`): through
        `mc_rollout_rewards`' sigmoid the rewards are the rank scores themselves."""
        features = self.discriminator.scorer()
        f_refs = features(self.references.next())
        alpha_reals = cosine_to_references(features(self.real_batch()), f_refs)
        gamma = self.gamma

        def score(tokens: Tensor) -> Tensor:
            alpha = cosine_to_references(features(tokens), f_refs)
            return _log_odds(log_rank_scores(alpha, alpha_reals, gamma))

        return score

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "references": self.references.state_dict(),
                "context": [t.cpu() for t in self._context]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.references.load_state_dict(state["references"])
        refs, fakes = state["context"]
        self._context = (refs.to(self.device), fakes.to(self.device))


def _check_loss(recipe: Recipe) -> None:
    """The ranker forms its own loss: refuse the `loss:` settings that would act on it unasked (WGAN's
    weight clipping) or promise what it does not do (label smoothing)."""
    lcfg = recipe.loss
    if LOSSES[lcfg.name].weight_clip:
        raise UserError(f"model.family rankgan trains its ranker with its own loss; loss.name {lcfg.name!r} "
                        "would clip the ranker's weights: choose another loss name (it is not used)")
    if lcfg.label_smoothing:
        raise UserError("model.family rankgan trains its ranker with its own loss: loss.label_smoothing "
                        "has no part in it; set it to 0")
