"""Text evaluation: every quality and diversity metric of a sample file against references, under the
subset protocol of a chosen anchor. The body of `textgan eval`, and the same code the trainer calls.

Why protocols: each anchor scores a different subset, so their numbers only compare under the same
subset. textgan's default is the full protocol; the presets reproduce the anchors' choices:
- texygen: every sample against every reference; Self-BLEU leave-one-out over every sample (the
  protocol behind Texygen's published tables).
- textgan-pytorch: BLEU of the first 200 samples against every reference (its `sample_size = 200`);
  Self-BLEU of 200 samples against the evaluation samples. TextGAN-PyTorch draws those 200 afresh;
  from one file they are the first 200 lines, scored against the other lines.
- relgan: BLEU as textgan-pytorch (RelGAN's `sample_size = 200`); Self-BLEU of the first 200
  samples, each against all the other samples. RelGAN's own code keeps the sample itself among its
  references, which makes every score exactly 1; textgan leaves it out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textgan.errors import UserError

if TYPE_CHECKING:
    from textgan.metrics.fed import SentenceEncoder

Tokens = list[str]

BLEU_ORDERS = (2, 3, 4, 5)
DISTINCT_ORDERS = (1, 2, 3, 4)
GROUPS: dict[str, tuple[str, ...]] = {
    "bleu": tuple(f"bleu_{n}" for n in BLEU_ORDERS),
    "self_bleu": tuple(f"self_bleu_{n}" for n in BLEU_ORDERS),
    "distinct": tuple(f"distinct_{n}" for n in DISTINCT_ORDERS),
    "entropy": tuple(f"entropy_{n}" for n in DISTINCT_ORDERS),
    "unique_ratio": ("unique_ratio",),
    "novelty": ("novelty",),
    "length": ("length_mean", "length_std", "length_min", "length_max"),
    "fed": ("fed",),
}
ALL_METRICS = tuple(name for names in GROUPS.values() for name in names)


@dataclass(frozen=True)
class Protocol:
    """Which samples are scored: BLEU and Self-BLEU hypotheses are the first `n_hypotheses` samples
    (None: all); Self-BLEU references are all other samples or, with `self_refs_rest`, the samples
    after the hypotheses."""

    name: str
    n_hypotheses: int | None
    self_refs_rest: bool = False

    def describe(self, n_samples: int, n_references: int) -> str:
        """One line saying which subsets were scored."""
        k = n_samples if self.n_hypotheses is None else min(self.n_hypotheses, n_samples)
        which = f"all {n_samples}" if k == n_samples else f"the first {k} of {n_samples}"
        self_refs = (f"samples {k + 1}..{n_samples}" if self.self_refs_rest
                     else "all the other samples (leave-one-out)")
        return (f"protocol {self.name}: BLEU of {which} samples against all {n_references} references; "
                f"Self-BLEU of {which} samples, each against {self_refs}")


PROTOCOLS = {
    "texygen": Protocol("texygen", None),
    "textgan-pytorch": Protocol("textgan-pytorch", 200, self_refs_rest=True),
    "relgan": Protocol("relgan", 200),
}


def select_metrics(spec: str | None, have_train: bool, fed_available: bool) -> list[str]:
    """The metric names asked for by a comma list of names or groups (None: everything that applies:
    novelty only with training sentences, FED only when an encoder is installed)."""
    if spec is None:
        return [m for m in ALL_METRICS if (m != "novelty" or have_train) and (m != "fed" or fed_available)]
    chosen: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        names = GROUPS.get(item, (item,) if item in ALL_METRICS else None)
        if names is None:
            raise UserError(f"unknown metric {item!r}; choose from the groups {', '.join(GROUPS)} "
                            f"or the names {', '.join(ALL_METRICS)}")
        chosen += [n for n in names if n not in chosen]
    if not chosen:
        raise UserError("--metrics is empty")
    if "novelty" in chosen and not have_train:
        raise UserError("the metric novelty needs the training sentences: pass --train FILE")
    return chosen


def _check_same_kind(samples: Sequence[Tokens], other: Sequence[Tokens], what: str) -> None:
    """Refuse two files that cannot be compared: no token in common (token ids vs words, another
    language or tokenisation)."""
    vocab = {t for s in samples for t in s}
    if vocab and vocab.isdisjoint(t for s in other for t in s):
        def ids(sentences: Sequence[Tokens]) -> bool:
            return all(t.isdigit() for s in sentences[:100] for t in s)

        hint = " (one holds token ids, the other words)" if ids(samples) != ids(other) else ""
        raise UserError(f"the samples and the {what} share no token{hint}: they are not the same "
                        "kind of text")


def _bleu_metrics(samples: Sequence[Tokens], references: Sequence[Tokens], protocol: Protocol,
                  wanted: set[str]) -> dict[str, float]:
    from textgan.metrics import bleu_multi, self_bleu_multi, self_bleu_scores

    k = len(samples) if protocol.n_hypotheses is None else min(protocol.n_hypotheses, len(samples))
    hyps = samples[:k]
    out: dict[str, float] = {}
    orders = [n for n in BLEU_ORDERS if f"bleu_{n}" in wanted]
    if orders:
        out |= {f"bleu_{n}": v for n, v in bleu_multi(hyps, references, orders).items()}
    orders = [n for n in BLEU_ORDERS if f"self_bleu_{n}" in wanted]
    if not orders:
        return out
    if protocol.self_refs_rest:
        if len(samples) <= k:
            raise UserError(f"protocol {protocol.name}: Self-BLEU scores the first {k} samples against the "
                            f"rest, so it needs more than {k} samples (got {len(samples)})")
        out |= {f"self_bleu_{n}": v for n, v in bleu_multi(hyps, samples[k:], orders).items()}
    elif k == len(samples):
        out |= {f"self_bleu_{n}": v for n, v in self_bleu_multi(samples, orders).items()}
    else:
        out |= {f"self_bleu_{n}": math.fsum(self_bleu_scores(samples, n)[:k].tolist()) / k for n in orders}
    return out


def evaluate_tokens(
    sample_tokens: Sequence[Tokens],
    reference_tokens: Sequence[Tokens] | None = None,
    metrics: Sequence[str] = ALL_METRICS,
    protocol: str = "texygen",
    train_tokens: Sequence[Tokens] | None = None,
) -> dict[str, float]:
    """{metric name: value} of tokenised samples: every metric but FED (which embeds raw lines). The
    core of `evaluate_text`, called directly by training-time evaluation and the temperature sweep,
    which tokenise their references once. BLEU needs `reference_tokens`, novelty `train_tokens`."""
    from textgan.metrics import distinct_n, length_stats, ngram_entropy, novelty, unique_ratio

    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    wanted = set(metrics)
    if wanted & set(GROUPS["bleu"]) and reference_tokens is None:
        raise UserError("the BLEU metrics need reference sentences")
    if wanted & set(GROUPS["self_bleu"]) and len(sample_tokens) < 2:
        raise UserError(f"Self-BLEU needs at least 2 samples, got {len(sample_tokens)}")
    out = _bleu_metrics(sample_tokens, reference_tokens or [], PROTOCOLS[protocol], wanted)
    for n in DISTINCT_ORDERS:
        if f"distinct_{n}" in wanted:
            out[f"distinct_{n}"] = distinct_n(sample_tokens, n)
        if f"entropy_{n}" in wanted:
            out[f"entropy_{n}"] = ngram_entropy(sample_tokens, n)
    if "unique_ratio" in wanted:
        out["unique_ratio"] = unique_ratio(sample_tokens)
    if "novelty" in wanted:
        if train_tokens is None:
            raise UserError("the metric novelty needs the training sentences")
        out["novelty"] = novelty(sample_tokens, train_tokens)
    if wanted & set(GROUPS["length"]):
        out |= {f"length_{k}": v for k, v in length_stats(sample_tokens).items() if f"length_{k}" in wanted}
    return {name: out[name] for name in ALL_METRICS if name in out}


def evaluate_text(
    samples: Sequence[str],
    references: Sequence[str],
    tokenize: Callable[[str], Tokens],
    train: Sequence[str] | None = None,
    metrics: Sequence[str] = ALL_METRICS,
    protocol: str = "texygen",
    encoder: SentenceEncoder | Callable[[], SentenceEncoder] | None = None,
) -> dict[str, float]:
    """{metric name: value} for the sample lines against the reference lines (DESIGN.md's names).

    BLEU, diversity and novelty use `tokenize`d lines (`evaluate_tokens`); FED embeds the raw lines
    with `encoder`: a `textgan.metrics.fed.SentenceEncoder`, a function making one (called only once
    FED's turn comes, after every cheap check passed) or None for the default encoder.
    """
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if len(samples) < 2:
        raise UserError(f"need at least 2 samples, got {len(samples)}")
    sample_tokens = [tokenize(s) for s in samples]
    reference_tokens = [tokenize(s) for s in references]
    _check_same_kind(sample_tokens, reference_tokens, "references")
    train_tokens = None
    if "novelty" in metrics:
        if train is None:
            raise UserError("the metric novelty needs the training sentences")
        train_tokens = [tokenize(s) for s in train]
        _check_same_kind(sample_tokens, train_tokens, "training sentences")
    out = evaluate_tokens(sample_tokens, reference_tokens, metrics, protocol, train_tokens)
    if "fed" in metrics:
        from textgan.metrics.fed import fed

        out["fed"] = fed(samples, references, encoder() if callable(encoder) else encoder)
    return {name: out[name] for name in ALL_METRICS if name in out}
