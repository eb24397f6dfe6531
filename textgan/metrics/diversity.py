"""Diversity of generated text: distinct-n, n-gram entropy, unique and novel sentences, lengths.

Why: a generator can score well on BLEU by repeating a few good sentences (mode collapse); these
numbers expose that. Sentences are sequences of hashable tokens; every function needs at least one
sample and returns plain floats.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Hashable, Sequence

Sentence = Sequence[Hashable]


def _check(samples: Sequence[Sentence]) -> None:
    if not samples:
        raise ValueError("no samples")


def _ngram_counts(samples: Sequence[Sentence], n: int) -> Counter:
    """How often each n-gram occurs over all samples."""
    _check(samples)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return Counter(tuple(s[i : i + n]) for s in samples for i in range(len(s) - n + 1))


def distinct_n(samples: Sequence[Sentence], n: int) -> float:
    """Distinct n-grams divided by all n-grams, over the whole sample set (0.0 when there are none)."""
    counts = _ngram_counts(samples, n)
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def ngram_entropy(samples: Sequence[Sentence], n: int) -> float:
    """Entropy in nats of the n-gram frequency distribution over the whole sample set (0.0 when empty)."""
    counts = _ngram_counts(samples, n)
    total = sum(counts.values())
    return -math.fsum(c / total * math.log(c / total) for c in counts.values())


def unique_ratio(samples: Sequence[Sentence]) -> float:
    """The fraction of samples that are distinct sentences (1.0: no sentence repeated)."""
    _check(samples)
    return len({tuple(s) for s in samples}) / len(samples)


def novelty(samples: Sequence[Sentence], train: Sequence[Sentence]) -> float:
    """The fraction of samples that are not a sentence of the training set (copies score 0)."""
    _check(samples)
    seen = {tuple(s) for s in train}
    return sum(tuple(s) not in seen for s in samples) / len(samples)


def length_stats(samples: Sequence[Sentence]) -> dict[str, float]:
    """Sentence length in tokens: mean, population standard deviation, min and max."""
    _check(samples)
    lengths = [len(s) for s in samples]
    return {
        "mean": statistics.fmean(lengths),
        "std": statistics.pstdev(lengths),
        "min": float(min(lengths)),
        "max": float(max(lengths)),
    }
