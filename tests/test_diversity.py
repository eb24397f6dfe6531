"""Diversity metrics against hand computations."""

import math

import pytest

from textgan.metrics import distinct_n, length_stats, ngram_entropy, novelty, unique_ratio

SAMPLES = [["a", "b", "a"], ["a", "b"], ["a", "b"], []]


def test_distinct_n():
    # unigrams a,b,a,a,b,a,b: 2 distinct of 7; bigrams ab,ba,ab,ab: 2 of 4; trigrams aba: 1 of 1
    assert distinct_n(SAMPLES, 1) == pytest.approx(2 / 7)
    assert distinct_n(SAMPLES, 2) == pytest.approx(2 / 4)
    assert distinct_n(SAMPLES, 3) == 1.0
    assert distinct_n(SAMPLES, 4) == 0.0


def test_ngram_entropy():
    # unigrams: a 4/7, b 3/7; bigrams: ab 3/4, ba 1/4
    assert ngram_entropy(SAMPLES, 1) == pytest.approx(-(4 / 7 * math.log(4 / 7) + 3 / 7 * math.log(3 / 7)))
    assert ngram_entropy(SAMPLES, 2) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert ngram_entropy(SAMPLES, 3) == 0.0
    assert ngram_entropy([["x", "y", "z", "w"]], 1) == pytest.approx(math.log(4))


def test_unique_ratio_and_novelty():
    assert unique_ratio(SAMPLES) == 3 / 4
    assert novelty(SAMPLES, [["a", "b"], ["c"]]) == 2 / 4
    assert novelty(SAMPLES, []) == 1.0


def test_length_stats():
    stats = length_stats(SAMPLES)  # lengths 3, 2, 2, 0
    assert stats == pytest.approx({"mean": 1.75, "std": math.sqrt(1.1875), "min": 0.0, "max": 3.0})


@pytest.mark.parametrize("call", [lambda: distinct_n([], 1), lambda: unique_ratio([]),
                                  lambda: length_stats([])])
def test_no_samples_is_an_error(call):
    with pytest.raises(ValueError, match="no samples"):
        call()


def test_bad_n_is_an_error():
    with pytest.raises(ValueError, match="positive integer"):
        ngram_entropy(SAMPLES, 0)
