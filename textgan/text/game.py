"""The text games on the shared trainer core: RelGAN-style Gumbel-softmax training (gradients flow
from D through soft one-hots into G) and SeqGAN-style policy gradient (rewards from D, REINFORCE on
G's log-probs), both with MLE pre-training of the generator.

The recipe's `data` section is `textgan.text.data.DataConfig`, its `model` section `ModelConfig`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from textgan.config import PATH, Recipe, check_choice, check_non_negative, check_positive
from textgan.core import distributed as dist
from textgan.core.data import ShuffledBatches
from textgan.core.game import Game
from textgan.core.losses import LOSSES
from textgan.core.objective import Objective
from textgan.core.plots import MetricPanel
from textgan.core.regularizers import set_dropout
from textgan.doctor.remedies import Change, get, scaled_lrs
from textgan.doctor.roles import MetricRoles
from textgan.errors import UserError
from textgan.evaluate import GROUPS, evaluate_tokens
from textgan.metrics.nll import nll_gen, nll_oracle
from textgan.storage import atomic_write_text
from textgan.text.data import DataConfig, TextData, load_text_data
from textgan.text.discriminators import RelGANDiscriminator, SeqGANDiscriminator, init_like_relgan
from textgan.text.generators import (
    LSTMGenerator,
    RelationalMemoryGenerator,
    TextGenerator,
    TransformerGenerator,
)
from textgan.text.signals import SCHEDULES, maligan_rewards, mc_rollout_rewards, reinforce_loss, temperature
from textgan.text.tokenize import EOS, SubwordTokenizer, Tokenizer, Vocabulary

__all__ = ["DataConfig", "ModelConfig", "build_discriminator", "build_game", "build_generator", "game_class"]

GENERATORS = ("lstm", "rmc", "transformer")
DISCRIMINATORS = ("seqgan", "relgan")
D_INITS = ("default", "relgan")
SIGNALS = ("gumbel", "pg")
# families with a game of their own: name -> "module:class" (imported when a recipe names it);
# "" keeps RelGAN (signal gumbel) and SeqGAN/MaliGAN (signal pg), whose games are below
FAMILIES: dict[str, str] = {"": "", "leakgan": "textgan.text.leakgan:LeakGANGame",
                            "rankgan": "textgan.text.rankgan:RankGANGame",
                            "scratchgan": "textgan.text.scratchgan:ScratchGANGame",
                            "sentigan": "textgan.text.sentigan:SentiGANGame",
                            "catgan": "textgan.text.catgan:CatGANGame"}
PG_REWARDS = ("seqgan", "maligan", "reinforce-baseline")
PROBE_ROWS = 256  # D is probed on this many training and held-out rows (over-fitting signal)
SAMPLE_CHUNK = 1000  # rows per sampling pass in evaluation: bounds the (rows, vocab) logits
SAMPLES_WRITTEN = 1000  # sentences written to samples/step_XXXXXXX.txt per evaluation
METRIC_PANELS = (
    MetricPanel("NLL_oracle and NLL_gen, nats per token (lower is better)", ("nll_oracle", "nll_gen")),
    MetricPanel("BLEU-n against the test set (0-1, higher is better)",
                ("bleu_2", "bleu_3", "bleu_4", "bleu_5")),
    MetricPanel("Self-BLEU-n of the samples (0-1, lower = more diverse)",
                ("self_bleu_2", "self_bleu_3", "self_bleu_4", "self_bleu_5")),
    MetricPanel("distinct-n of the samples (0-1, higher = more diverse)",
                ("distinct_1", "distinct_2", "distinct_3", "distinct_4")),
    MetricPanel("Gumbel-softmax inverse temperature beta", ("beta",)),
    MetricPanel("policy-gradient reward, batch mean", ("reward_mean",)),
    MetricPanel("ScratchGAN: discounted return and its moving-average baseline", ("return_mean", "baseline")),
    MetricPanel("generated sentences of category c labelled c by the text classifier, and its accuracy on "
                "real ones (0-1)", ("class_accuracy", "classifier_accuracy"), prefixes=("class_accuracy_",)),
    MetricPanel("BLEU-2 of each category against its test sentences (0-1, higher is better)", (),
                prefixes=("bleu_2_",)),
    MetricPanel("Self-BLEU-2 of each category's samples (0-1, lower = more diverse)", (),
                prefixes=("self_bleu_2_",)),
    MetricPanel("NLL_gen of each category on its test sentences, nats per token", (), prefixes=("nll_gen_",)),
    MetricPanel("CatGAN: the surviving child's quality and diversity, its G loss (index in model.mutations)",
                ("fitness_quality", "fitness_diversity", "mutation")),
    MetricPanel("SentiGAN: D's class accuracy on reals and the mean penalty 1 - D_c (0-1)",
                ("d_class_acc", "penalty_mean")),
)
METRIC_ROLES = MetricRoles(quality=(("nll_oracle", "min"), ("bleu_4", "max"), ("bleu_2", "max")),
                           diversity=GROUPS["distinct"], similarity=GROUPS["self_bleu"],
                           continuous_inputs=False)


def doctor_changes(pitfall: str, config: dict[str, Any]) -> list[Change]:
    """The text game's own remedy for collapse: under Gumbel-softmax a larger maximum inverse
    temperature (RelGAN: the larger beta_max, the more diverse the samples); under policy gradient,
    smaller steps for both players. A family with a game of its own may give its own remedies."""
    family = family_module(get(config, "model.family") or "")
    if hasattr(family, "doctor_changes"):
        return family.doctor_changes(pitfall, config)
    if pitfall != "mode_collapse":
        return []
    if get(config, "model.signal") == "gumbel":
        beta = get(config, "model.beta_max") or 1.0
        return [Change("model.beta_max", beta, max(100.0, 10.0 * beta),
                       "a larger beta_max: more diverse samples")]
    return scaled_lrs(config, 0.5, "smaller policy-gradient steps")


@dataclass
class ModelConfig:
    """`family` names a family with a game of its own (empty: RelGAN or SeqGAN/MaliGAN, by `signal`).
    Generator (`lstm`: SeqGAN's 32/32; `rmc`: RelGAN's relational memory; `transformer`: GPT-2
    style, random init), discriminator (`seqgan` or `relgan` CNN) and training signal.

    `gumbel`: inverse temperature beta rises from 1 to `beta_max` along `temperature` (RelGAN's
    schedules) over `temperature_horizon` adversarial steps (0: the run's `train.steps`; RelGAN's
    and TextGAN-PyTorch's code fix it at 5000 whatever the run's length, so their 3,000-step runs end
    at beta_max^0.6); `straight_through` uses hard one-hots forward. `d_init: relgan` initialises D
    as RelGAN's TensorFlow code does (truncated normals: embedding std 1/sqrt(vocabulary), linear
    layers 1/sqrt(fan-in), convolutions sqrt(2/fan-in); zero biases) instead of PyTorch's defaults.
    `pretrained` (transformer only): a local causal-LM directory whose body is loaded and whose
    embeddings are cut down to the corpus vocabulary (use `data.tokenizer: pretrained` with the same
    directory, so the corpus is split into the model's own pieces).
    `pg`: REINFORCE with rewards `pg_reward`: `seqgan` (Monte-Carlo rollouts, `rollouts` per
    prefix), `reinforce-baseline` (the same minus the batch mean per position) or `maligan`
    (normalised sequence rewards D/(1-D), no rollouts). Empty `d_filter_sizes`/`d_num_filters`
    keep the discriminator's published filter bank. `d_shared_highway` uses one matrix for the
    highway's transform and gate (TextGAN-PyTorch's variant: about 40% fewer D FLOPs than RelGAN's two).
    `g_init_std` > 0 draws every generator parameter from N(0, g_init_std), as SeqGAN does with 0.1
    (0 keeps PyTorch's defaults, whose N(0, 1) embedding rows learn worse on the oracle: MLE
    NLL_oracle 9.48 vs 9.15 after 10 epochs); a pretrained transformer is never re-initialised.

    `family: rankgan` (RankGAN, `textgan.text.rankgan`): D is a ranker, SeqGAN's CNN without its output
    layer (`discriminator: seqgan` and its `d_*` keys). A sentence's rank score is the softmax over its
    comparison set of `rank_gamma` times the cosine similarity of its feature to a reference sentence,
    averaged over `rank_refs` references drawn from the training set (the paper's definition); gamma
    16 is as sharp as RankGAN's code, whose exponent sums the cosines to its 16 references. G learns
    by policy gradient (`signal: pg`, `pg_reward` seqgan or reinforce-baseline) on rank scores.
    `family: scratchgan` (ScratchGAN, `textgan.text.scratchgan`): D is an LSTM scoring every prefix
    (`d_lstm_dim` units, `d_lstm_layers` layers, Sonnet-style layer norm on its gates when
    `d_layer_norm`, dropout `d_dropout` on its `d_emb_dim` embedding table); G learns by REINFORCE on
    the rewards 2 sigmoid(D) - 1 of its tokens (`dense_rewards: false`: the sequence's last token only,
    the paper's ablation), discounted by `discount`, minus a moving-average baseline of decay
    `baseline_decay` (1: the baseline stays 0, i.e. none).
    `family: leakgan` (`textgan.text.leakgan`): a manager LSTM turns the `seqgan` discriminator's
    leaked features into goals; a worker LSTM (`emb_dim`/`hidden_dim`, both LSTMs `hidden_dim` wide)
    follows the sum of the last `step_size` goals through a `goal_size`-dimensional goal embedding.
    The manager's rewards (`rollouts` Monte-Carlo completions at the end of each block of
    `step_size` tokens) pass through LeakGAN's rescaled activation sigmoid(`leak_delta` (0.5 -
    rank / batch)).
    Category-conditional families (`family: sentigan` or `catgan`, on labelled data): SentiGAN uses
    `rollouts` and a `seqgan` discriminator with k+1 outputs. CatGAN's evolution tries one child
    per G loss in `mutations` (names of `loss.name`), each at the inverse temperatures of the
    schedule `evo_temp_step` steps around the current one (0: the current only), scores each on
    `evo_eval_rows` samples per category, and keeps the fittest by quality + `lambda_fd` * diversity.
    """

    family: str = ""
    generator: str = "lstm"
    emb_dim: int = 32
    hidden_dim: int = 32
    mem_slots: int = 1
    num_heads: int = 2
    head_size: int = 256
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64
    pretrained: str = field(default="", metadata=PATH)
    g_init_std: float = 0.0
    discriminator: str = "relgan"
    d_emb_dim: int = 64
    num_rep: int = 64
    d_dropout: float = 0.25
    d_shared_highway: bool = False
    d_filter_sizes: list[int] = field(default_factory=list)
    d_num_filters: list[int] = field(default_factory=list)
    d_init: str = "default"
    signal: str = "gumbel"
    beta_max: float = 1.0
    temperature: str = "exp"
    temperature_horizon: int = 0
    straight_through: bool = False
    pg_reward: str = "seqgan"
    rollouts: int = 16
    rank_gamma: float = 16.0
    rank_refs: int = 16
    discount: float = 0.23
    baseline_decay: float = 0.08
    dense_rewards: bool = True
    d_lstm_dim: int = 512
    d_lstm_layers: int = 1
    d_layer_norm: bool = True
    goal_size: int = 16
    step_size: int = 4
    leak_delta: float = 12.0
    mutations: list[str] = field(default_factory=lambda: ["rasgan", "rsgan"])
    evo_temp_step: int = 1
    evo_eval_rows: int = 64
    lambda_fd: float = 0.0

    def validate(self) -> None:
        check_choice(self.family, tuple(FAMILIES), "model.family")
        check_choice(self.generator, GENERATORS, "model.generator")
        check_choice(self.discriminator, DISCRIMINATORS, "model.discriminator")
        check_choice(self.signal, SIGNALS, "model.signal")
        check_choice(self.temperature, SCHEDULES, "model.temperature")
        check_choice(self.pg_reward, PG_REWARDS, "model.pg_reward")
        check_choice(self.d_init, D_INITS, "model.d_init")
        check_non_negative(self.temperature_horizon, "model.temperature_horizon")
        for key in ("evo_temp_step", "lambda_fd"):
            check_non_negative(getattr(self, key), f"model.{key}")
        if not self.mutations:
            raise UserError("model.mutations is empty: name at least one generator loss (e.g. rasgan)")
        for name in self.mutations:
            check_choice(name, tuple(LOSSES), "model.mutations")
        for key in ("emb_dim", "hidden_dim", "mem_slots", "num_heads", "head_size", "n_layer", "n_head",
                    "n_embd", "d_emb_dim", "num_rep", "rollouts", "d_lstm_dim", "d_lstm_layers", "goal_size",
                    "step_size", "evo_eval_rows"):
            check_positive(getattr(self, key), f"model.{key}")
        if self.beta_max < 1:
            raise UserError("model.beta_max must be >= 1 (beta rises from 1 to beta_max), got "
                            f"{self.beta_max}")
        if len(self.d_filter_sizes) != len(self.d_num_filters):
            raise UserError("model.d_filter_sizes and model.d_num_filters must have the same length")
        if self.pretrained and self.generator != "transformer":
            raise UserError(f"model.pretrained loads a transformer: set model.generator to transformer "
                            f"(got {self.generator!r})")
        if self.g_init_std < 0:
            raise UserError("model.g_init_std must be >= 0 (0 keeps PyTorch's initialisation), got "
                            f"{self.g_init_std}")
        if not 0.0 <= self.d_dropout < 1.0:
            raise UserError(f"model.d_dropout must be in [0, 1), got {self.d_dropout}")
        if self.family == "leakgan" and self.discriminator != "seqgan":
            raise UserError("model.family leakgan leaks the features of the seqgan discriminator: set "
                            f"model.discriminator to seqgan (got {self.discriminator!r})")
        if not self.leak_delta > 0:
            raise UserError(f"model.leak_delta must be > 0, got {self.leak_delta}")
        for key in ("discount", "baseline_decay"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise UserError(f"model.{key} must be in [0, 1], got {getattr(self, key)}")
        self._validate_rankgan()

    def _validate_rankgan(self) -> None:
        check_positive(self.rank_gamma, "model.rank_gamma")
        check_positive(self.rank_refs, "model.rank_refs")
        if self.family != "rankgan":
            return
        for key, value, why in (("signal", "pg", "its generator learns by policy gradient"),
                                ("discriminator", "seqgan", "its ranker is SeqGAN's CNN")):
            if getattr(self, key) != value:
                raise UserError(f"model.family rankgan: {why}; set model.{key} to {value} "
                                f"(got {getattr(self, key)!r})")
        if self.pg_reward == "maligan":
            raise UserError("model.family rankgan rewards rank scores: set model.pg_reward to seqgan or "
                            "reinforce-baseline (maligan normalises D's binary odds)")


def build_generator(cfg: ModelConfig, vocab_size: int, bos_id: int, seq_len: int,
                    token_ids: list[int | None] | None = None) -> TextGenerator:
    """The recipe's generator over `vocab_size` tokens for sequences of `seq_len`; `token_ids` (the
    pretrained tokenizer's id of each vocabulary entry) maps a pretrained model's embeddings."""
    if cfg.pretrained:
        if token_ids is None or len(token_ids) != vocab_size:
            raise UserError("model.pretrained needs data.tokenizer: pretrained (the model's own pieces)")
        return TransformerGenerator.from_pretrained(Path(cfg.pretrained).expanduser(),
                                                    bos_id, token_ids, eos_id=EOS)
    generator: TextGenerator
    if cfg.generator == "lstm":
        generator = LSTMGenerator(vocab_size, cfg.emb_dim, cfg.hidden_dim, bos_id=bos_id)
    elif cfg.generator == "rmc":
        generator = RelationalMemoryGenerator(vocab_size, cfg.emb_dim, cfg.mem_slots, cfg.num_heads,
                                              cfg.head_size, bos_id=bos_id)
    else:
        generator = TransformerGenerator.from_config(vocab_size, cfg.n_layer, cfg.n_head, cfg.n_embd, seq_len,
                                                     bos_id=bos_id)
    init_normal(generator, cfg.g_init_std)
    return generator


def init_normal(generator: nn.Module, std: float) -> None:
    """`model.g_init_std`: every parameter from N(0, std) (SeqGAN's and LeakGAN's 0.1); 0 leaves them."""
    if std:
        with torch.no_grad():
            for param in generator.parameters():
                param.normal_(0.0, std)


def family_module(family: str) -> ModuleType | None:
    """The module of a `model.family` with a game of its own (None for the games of this module)."""
    return importlib.import_module(FAMILIES[family].split(":")[0]) if FAMILIES.get(family) else None


def pretrained_token_ids(vocab: Vocabulary | None, tokenizer: Tokenizer | None) -> list[int | None] | None:
    """The pretrained tokenizer's id of each vocabulary entry (None for textgan's specials), or None
    when the corpus was not split by a pretrained tokenizer."""
    if vocab is None or not isinstance(tokenizer, SubwordTokenizer) or tokenizer.kind != "pretrained":
        return None
    return [tokenizer.token_id(tok) for tok in vocab.itos]


def build_discriminator(cfg: ModelConfig, vocab_size: int, seq_len: int, head: bool = True) -> nn.Module:
    """The recipe's discriminator: one logit per sequence (SeqGAN) or per representation (RelGAN);
    `head=False`: SeqGAN's CNN up to its features (RankGAN's ranker)."""
    filters = ({"filter_sizes": tuple(cfg.d_filter_sizes), "num_filters": tuple(cfg.d_num_filters)}
               if cfg.d_filter_sizes else {})
    d: nn.Module
    if cfg.discriminator == "seqgan":
        d = SeqGANDiscriminator(vocab_size, seq_len, cfg.d_emb_dim, dropout=cfg.d_dropout,
                                shared_highway=cfg.d_shared_highway, head=head, **filters)
    else:
        d = RelGANDiscriminator(vocab_size, seq_len, cfg.d_emb_dim, cfg.num_rep, dropout=cfg.d_dropout,
                                shared_highway=cfg.d_shared_highway, **filters)
    if cfg.d_init == "relgan":
        init_like_relgan(d)
    return d


class TextGame(Game):
    """Reals are encoded sentences (token ids); the generator is pre-trained by MLE on them.

    A family with a game of its own subclasses it: `labelled` games read the categories' corpora
    (`load_text_data(labelled=True)`); `make_generator` builds the family's generator (here and for
    `textgan sample`, from a run's signature), `make_discriminator` its discriminator."""

    generator: TextGenerator
    labelled = False

    def __init__(self, recipe: Recipe, device: torch.device, data: TextData) -> None:
        self.cfg: DataConfig = recipe.data
        self.model_cfg: ModelConfig = recipe.model
        self.data = data
        self.device = device
        _check_losses(recipe)
        if len(data.train) < recipe.train.batch_size:
            raise UserError(f"the training set has {len(data.train)} sentences, fewer than train.batch_size "
                            f"{recipe.train.batch_size}")
        self.seq_len = data.seq_len
        self.generator = self.make_generator(recipe.model, data.vocab_size, data.bos_id, self.seq_len,
                                             pretrained_token_ids(data.vocab, data.tokenizer),
                                             data.categories)
        self.discriminator = self.make_discriminator(recipe.model, data)
        self.batches = ShuffledBatches(data.train.to(device), recipe.train.batch_size, recipe.seed)
        self._train_slice = data.train[:PROBE_ROWS].to(device)
        self._heldout = data.test[:PROBE_ROWS].to(device)
        self._bleu_refs: list[list[str]] | None = None

    @classmethod
    def make_generator(cls, cfg: ModelConfig, vocab_size: int, bos_id: int, seq_len: int,
                       token_ids: list[int | None] | None, categories: tuple[str, ...]) -> nn.Module:
        """The recipe's generator (`categories`: the labelled data's, for conditional families)."""
        return build_generator(cfg, vocab_size, bos_id, seq_len, token_ids)

    def make_discriminator(self, cfg: ModelConfig, data: TextData) -> nn.Module:
        """The recipe's discriminator over the data's vocabulary and row width."""
        return build_discriminator(cfg, data.vocab_size, data.seq_len)

    def metric_names(self) -> set[str]:
        """The names `evaluate` reports with this recipe's data."""
        names = {"nll_gen", *GROUPS["distinct"]}
        if self.data.oracle is not None:
            names.add("nll_oracle")
        elif self.cfg.bleu_samples:
            names.update(GROUPS["bleu"] + GROUPS["self_bleu"])
        return names

    def metric_hint(self, metric: str) -> str:
        if not metric.startswith(("bleu_", "self_bleu_")):
            return ""
        if self.data.oracle is not None:
            return " (BLEU needs real text; the oracle's data are scored by nll_oracle)"
        return " (data.bleu_samples is 0: set it above 1 to score BLEU)"

    # ------------------------------------------------------------------ data
    def real_batch(self) -> Tensor:
        return self.batches.next()

    def train_slice(self) -> Tensor:
        return self._train_slice

    def heldout_slice(self) -> Tensor:
        return self._heldout

    def pretrain_loss(self, batch_size: int) -> Tensor:
        """Teacher-forced cross-entropy over every position of the fixed-width rows (padding included,
        as the anchors train: the generator learns to pad after EOS, so its samples look like reals)."""
        return -self.generator.log_probs(self.real_batch()).mean()

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, generator: nn.Module, step: int, out_dir: Path) -> dict[str, float]:
        """NLL_oracle (oracle data) and NLL_gen on the test rows; distinct-1..4 of the samples' tokens;
        on real text BLEU-2..5 and leave-one-out Self-BLEU-2..5 of the first `bleu_samples` samples
        (`textgan eval`'s code and word tokenisation). Writes the first samples to
        `out_dir/step_XXXXXXX.txt`."""
        cfg, data = self.cfg, self.data
        samples = torch.cat([generator.sample(min(SAMPLE_CHUNK, cfg.n_eval - lo), self.seq_len)
                             for lo in range(0, cfg.n_eval, SAMPLE_CHUNK)]).cpu()
        metrics: dict[str, float] = {}
        if data.oracle is not None:
            metrics["nll_oracle"] = nll_oracle(data.oracle, samples)
        test = data.test[: cfg.n_eval_test] if cfg.n_eval_test else data.test
        metrics["nll_gen"] = nll_gen(generator, test, pad_id=data.pad_id,
                                     eos_id=data.eos_id, legacy=cfg.nll_legacy)
        metrics |= evaluate_tokens(data.tokens(samples), metrics=GROUPS["distinct"])
        if cfg.bleu_samples and data.oracle is None:
            hypotheses = self._word_tokens(data.decode(samples[: cfg.bleu_samples]))
            metrics |= evaluate_tokens(hypotheses, self._references(), GROUPS["bleu"] + GROUPS["self_bleu"])
        atomic_write_text(out_dir / f"step_{step:07d}.txt",
                          "".join(s + "\n" for s in data.decode(samples[:SAMPLES_WRITTEN])))
        return metrics

    @staticmethod
    def _word_tokens(lines: list[str]) -> list[list[str]]:
        """The BLEU protocol's tokens: nltk word tokenisation of lower-cased lines."""
        from textgan.text.tokenize import WordTokenizer

        tokenizer = WordTokenizer(lowercase=True)
        return [tokenizer.tokenize(line) for line in lines]

    def _references(self) -> list[list[str]]:
        """The test sentences as BLEU references (raw lines when the test set is a corpus of its own)."""
        if self._bleu_refs is None:
            self._bleu_refs = self._word_tokens(self.data.reference_lines())
        return self._bleu_refs

    # ------------------------------------------------------------------ run folder and resume
    def set_model_option(self, name: str, value: Any) -> None:
        if name == "d_dropout":
            set_dropout(self.discriminator, value)

    def save_assets(self, run_dir: Path) -> None:
        self.data.save(run_dir)

    def signature(self) -> dict[str, Any]:
        return {"source": self.cfg.source, **self.data.signature()}

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches.load_state_dict(state["batches"])


class GumbelGame(TextGame):
    """RelGAN: fakes are Gumbel-softmax soft one-hots, so the core's reparameterised generator loss
    (any adversarial loss by name) backpropagates through D into G."""

    def __init__(self, recipe: Recipe, device: torch.device, data: TextData) -> None:
        super().__init__(recipe, device, data)
        self.beta = 1.0

    def on_step(self, step: int, total_steps: int) -> dict[str, float]:
        m = self.model_cfg
        horizon = m.temperature_horizon or total_steps
        self.beta = temperature(step - 1, max(2, horizon), m.beta_max, m.temperature)
        return {"beta": self.beta}

    def fake_batch(self, batch_size: int) -> Tensor:
        _, soft = self.generator.gumbel_sample(batch_size, self.seq_len, tau=1.0 / self.beta,
                                               hard=self.model_cfg.straight_through)
        return soft


class PolicyGradientGame(TextGame):
    """SeqGAN / MaliGAN: fakes are sampled token ids; G learns by REINFORCE from D's rewards."""

    def fake_batch(self, batch_size: int) -> Tensor:
        return self.generator.sample(batch_size, self.seq_len)

    def _scorer(self) -> Callable[[Tensor], Tensor]:
        """D in eval mode as a function of token ids (SeqGAN's tabulated scorer where it has one)."""
        D = self.discriminator
        if isinstance(D, SeqGANDiscriminator):
            return D.scorer()

        def score(tokens: Tensor) -> Tensor:
            was_training = D.training
            D.eval()
            try:
                return self.discriminate(tokens).view(len(tokens), -1).mean(1)
            finally:
                D.train(was_training)

        return score

    def generator_loss(self, objective: Objective, batch_size: int) -> tuple[Tensor, dict[str, float]]:
        """REINFORCE on G's log-probs of its own samples; rewards (B, T) are constants from D."""
        m, G = self.model_cfg, self.generator
        samples = G.sample(batch_size, self.seq_len)
        with torch.no_grad():
            scorer = self._scorer()
            if m.pg_reward == "maligan":
                rewards = maligan_rewards(scorer(samples))[:, None].expand(-1, self.seq_len)
            else:
                rewards = mc_rollout_rewards(G, samples, scorer, m.rollouts)
        baseline = "mean" if m.pg_reward == "reinforce-baseline" else None
        pg_loss = reinforce_loss(G.log_probs(samples), rewards, baseline)
        return pg_loss, {"reward_mean": rewards.mean().item()}


def _check_losses(recipe: Recipe) -> None:
    """Regularisers that perturb or differentiate D's inputs need continuous inputs; token ids are not."""
    lcfg = recipe.loss
    for key, value in (("instance_noise", lcfg.instance_noise), ("r1_weight", lcfg.r1_weight),
                       ("gp_weight", lcfg.effective_gp_weight)):
        if value:
            raise UserError(f"loss.{key} needs continuous discriminator inputs; the text game "
                            f"feeds token ids (set loss.{key} to 0"
                            f"{', or use the wgan loss' if key == 'gp_weight' else ''})")


def game_class(cfg: ModelConfig) -> type[TextGame]:
    """The game of a recipe's model section: its family's, else RelGAN's or SeqGAN's by signal."""
    family = family_module(cfg.family)
    if family is not None:
        return getattr(family, FAMILIES[cfg.family].split(":")[1])
    return GumbelGame if cfg.signal == "gumbel" else PolicyGradientGame


def build_game(recipe: Recipe, device: torch.device) -> TextGame:
    game_cls = game_class(recipe.model)
    data = load_text_data(recipe.data, labelled=game_cls.labelled)
    if dist.is_main():
        print(data.report, file=sys.stderr)
    return game_cls(recipe, device, data)
