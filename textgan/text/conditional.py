"""What the category-conditional families (SentiGAN, CatGAN) share: a generator that draws from a
named category, batches with every category in equal blocks, and per-category evaluation.

Block layout: a batch of B rows holds B/k rows of each of the k categories, category c in rows
c*B/k .. (c+1)*B/k - 1, for reals and fakes alike. So a batch's labels follow from its length
(`block_labels`), D's loss can pair real and fake rows of one category without labels travelling
beside the tensors, and every category is seen equally often (SentiGAN and CatGAN train each
category on batches of its own).

Evaluation scores the samples of category c against category c: NLL_gen on c's test rows, BLEU-n
against c's test sentences, Self-BLEU among c's samples, and `class_accuracy_<c>`, the share that
the text classifier (`textgan.text.classifier`) labels c. The plain names (`nll_gen`, `bleu_2`,
`class_accuracy`, ...) are the means over the categories; `classifier_accuracy` is the classifier's
own accuracy on real sentences it never saw, the figure `class_accuracy` is read against, and
`classifier_accuracy_<c>` its accuracy on those of category c, the figure `class_accuracy_<c>` is
read against.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from textgan.config import Recipe
from textgan.core.data import ShuffledBatches
from textgan.errors import UserError
from textgan.evaluate import GROUPS, evaluate_tokens
from textgan.metrics.nll import nll_gen
from textgan.storage import atomic_write_text
from textgan.text.data import TextData
from textgan.text.game import SAMPLE_CHUNK, SAMPLES_WRITTEN, TextGame
from textgan.text.generators import TextGenerator

PER_CLASS = ("bleu_2", "self_bleu_2", "nll_gen")  # also reported per category, as `<name>_<category>`


def block_labels(n: int, k: int, device: torch.device | None = None) -> Tensor:
    """The labels of a batch of n rows in block layout: n/k rows of each category in turn."""
    if n % k:
        raise UserError(f"a batch of {n} rows does not split into {k} equal category blocks")
    return torch.arange(k, device=device).repeat_interleave(n // k)


class ConditionalGenerator(nn.Module):
    """k categories, each drawn by `category(c)`, an ordinary `TextGenerator` (its sampling, Gumbel
    sampling, log-probs and Monte-Carlo rollouts then come for free)."""

    compiled_methods: tuple[str, ...] = ()  # `train.compile` leaves the wrappers eager
    n_categories: int

    def category(self, c: int) -> TextGenerator:
        """The generator of category c."""
        raise NotImplementedError

    def log_probs(self, tokens: Tensor, labels: Tensor) -> Tensor:
        """Per-token log-probabilities (B, T) of each row under its own category's generator."""
        out = torch.zeros(tokens.shape, device=tokens.device)
        for c in labels.unique().tolist():
            rows = labels == c
            out[rows] = self.category(c).log_probs(tokens[rows])
        return out

    @torch.no_grad()
    def sample(self, n: int, seq_len: int, temperature: float = 1.0, top_k: int = 0,
               generator: torch.Generator | None = None, category: int | None = None) -> Tensor:
        """n rows of `category`; without one, about n/k of each category in turn (the first n % k
        categories one more), as `sample_labels(n)` says."""
        if category is not None:
            return self.category(category).sample(n, seq_len, temperature, top_k, generator)
        counts = self.sample_labels(n).bincount(minlength=self.n_categories).tolist()
        return torch.cat([self.category(c).sample(m, seq_len, temperature, top_k, generator)
                          for c, m in enumerate(counts) if m])

    def sample_labels(self, n: int) -> Tensor:
        """The category of each row of `sample(n)` without a category."""
        k = self.n_categories
        counts = [n // k + (c < n % k) for c in range(k)]
        return torch.arange(k).repeat_interleave(torch.tensor(counts))


class StratifiedBatches:
    """Endless batches in block layout: B/k rows of each category, each category's rows shuffled
    by a `ShuffledBatches` of its own (so the data order resumes bit-for-bit)."""

    def __init__(self, rows: Tensor, labels: Tensor, k: int, batch_size: int, seed: int) -> None:
        if batch_size % k:
            raise UserError(f"train.batch_size {batch_size} must be a multiple of the {k} categories "
                            "(each batch holds as many sentences of each)")
        self.parts = []
        for c in range(k):
            mine = rows[labels.to(rows.device) == c]
            if len(mine) < batch_size // k:
                raise UserError(f"category {c} has {len(mine)} training sentences, fewer than its share "
                                f"{batch_size // k} of train.batch_size")
            self.parts.append(ShuffledBatches(mine, batch_size // k, seed * 7919 + c))

    def next(self) -> Tensor:
        return torch.cat([part.next() for part in self.parts])

    def state_dict(self) -> dict[str, Any]:
        return {"categories": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for part, saved in zip(self.parts, state["categories"], strict=True):
            part.load_state_dict(saved)


class ConditionalTextGame(TextGame):
    """A text game over labelled data with a `ConditionalGenerator`: stratified batches, MLE of each
    category's rows under that category, and per-category evaluation with the text classifier."""

    generator: ConditionalGenerator  # type: ignore[assignment]
    labelled = True

    def __init__(self, recipe: Recipe, device: torch.device, data: TextData) -> None:
        if data.train_labels is None or data.test_labels is None:
            raise UserError(f"model.family {recipe.model.family} needs labelled data")
        super().__init__(recipe, device, data)
        self.k = len(data.categories)
        self.batches = StratifiedBatches(data.train.to(device), data.train_labels, self.k,
                                         recipe.train.batch_size, recipe.seed)
        self._class_refs: dict[int, list[list[str]]] = {}
        self.classifier, self.classifier_accuracy, self.classifier_accuracy_by_category = self._classifier()

    def _classifier(self) -> tuple[nn.Module | None, float, dict[str, float]]:
        """The text classifier and its accuracy on the generator's training rows, overall and on each
        category's rows (None, nan and none without `data.classifier_steps`)."""
        if not self.cfg.classifier_steps:
            return None, float("nan"), {}
        from textgan.text.classifier import load_or_train, predict

        data = self.data
        assert data.train_labels is not None and data.test_labels is not None
        model, acc = load_or_train(data.test, data.test_labels, data.train, data.train_labels,
                                   data.vocab_size, self.k, self.cfg.classifier_steps,
                                   Path(self.cfg.cache_dir).expanduser() if self.cfg.cache_dir else None)
        # a classifier that favours one category sets each category its own bar
        predicted = predict(model, data.train)
        by_category = {name: float((predicted[data.train_labels == c] == c).float().mean())
                       for c, name in enumerate(data.categories)}
        each = ", ".join(f"{c} {100 * a:.2f} %" for c, a in by_category.items())
        print(f"text classifier: {100 * acc:.2f} % accuracy on the {len(data.train)} training sentences "
              f"({each}; it trained on the {len(data.test)} test sentences)", file=sys.stderr)
        return model.to(self.device), acc, by_category

    def labels_of(self, batch: Tensor) -> Tensor:
        """The categories of a batch's rows (block layout)."""
        return block_labels(len(batch), self.k, batch.device)

    def pretrain_loss(self, batch_size: int) -> Tensor:
        """Teacher-forced cross-entropy of each category's rows under that category's generator."""
        real = self.real_batch()
        return -self.generator.log_probs(real, self.labels_of(real)).mean()

    # ------------------------------------------------------------------ evaluation
    def metric_names(self) -> set[str]:
        names = {"nll_gen", *GROUPS["distinct"]} | {f"nll_gen_{c}" for c in self.data.categories}
        if self.cfg.bleu_samples:
            names |= set(GROUPS["bleu"] + GROUPS["self_bleu"])
            names |= {f"{m}_{c}" for m in PER_CLASS[:2] for c in self.data.categories}
        if self.classifier is not None:
            names |= {"class_accuracy", "classifier_accuracy"}
            names |= {f"{m}_{c}" for m in ("class_accuracy", "classifier_accuracy")
                      for c in self.data.categories}
        return names

    def metric_hint(self, metric: str) -> str:
        if "class_accuracy" in metric:
            return " (data.classifier_steps is 0: no text classifier)"
        return super().metric_hint(metric)

    def evaluate(self, generator: nn.Module, step: int, out_dir: Path) -> dict[str, float]:
        """Each category's samples scored against that category (module docstring); the first
        samples of each written to `out_dir/step_XXXXXXX.txt` as `category<TAB>sentence` lines."""
        assert isinstance(generator, ConditionalGenerator)
        per = max(2, self.cfg.n_eval // self.k)
        per_class: list[dict[str, float]] = []
        tokens: list[list[str]] = []
        lines: list[str] = []
        for c, name in enumerate(self.data.categories):
            g = generator.category(c)
            samples = torch.cat([g.sample(min(SAMPLE_CHUNK, per - lo), self.seq_len)
                                 for lo in range(0, per, SAMPLE_CHUNK)]).cpu()
            per_class.append(self._category_metrics(g, c, samples))
            tokens += self.data.tokens(samples)
            lines += [f"{name}\t{s}" for s in self.data.decode(samples[: SAMPLES_WRITTEN // self.k])]
        metrics = {key: sum(m[key] for m in per_class) / self.k for key in per_class[0]}
        for name, m in zip(self.data.categories, per_class):
            metrics |= {f"{key}_{name}": m[key] for key in (*PER_CLASS, "class_accuracy") if key in m}
        if self.classifier is not None:
            metrics["classifier_accuracy"] = self.classifier_accuracy
            by_category = self.classifier_accuracy_by_category
            metrics |= {f"classifier_accuracy_{c}": a for c, a in by_category.items()}
        metrics |= evaluate_tokens(tokens, metrics=GROUPS["distinct"])
        atomic_write_text(out_dir / f"step_{step:07d}.txt", "".join(line + "\n" for line in lines))
        return metrics

    def _category_metrics(self, g: TextGenerator, c: int, samples: Tensor) -> dict[str, float]:
        """NLL_gen on category c's test rows, BLEU/Self-BLEU against c's test sentences, and the
        share of `samples` the classifier labels c."""
        cfg, data = self.cfg, self.data
        assert data.test_labels is not None
        test = data.test[data.test_labels == c]
        if cfg.n_eval_test:
            test = test[: max(1, cfg.n_eval_test // self.k)]
        out = {"nll_gen": nll_gen(g, test, pad_id=data.pad_id, eos_id=data.eos_id, legacy=cfg.nll_legacy)}
        if cfg.bleu_samples:
            hypotheses = self._word_tokens(data.decode(samples[: cfg.bleu_samples]))
            out |= evaluate_tokens(hypotheses, self._category_references(c),
                                   GROUPS["bleu"] + GROUPS["self_bleu"])
        if self.classifier is not None:
            from textgan.text.classifier import predict

            out["class_accuracy"] = float((predict(self.classifier, samples) == c).float().mean())
        return out

    def _category_references(self, c: int) -> list[list[str]]:
        """Category c's test sentences as BLEU references (word tokens, computed once)."""
        if c not in self._class_refs:
            assert self.data.test_labels is not None
            rows = self.data.test[self.data.test_labels == c]
            self._class_refs[c] = self._word_tokens(self.data.decode(rows))
        return self._class_refs[c]
