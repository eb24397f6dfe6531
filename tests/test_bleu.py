"""textgan's BLEU / Self-BLEU against nltk's sentence_bleu, the reference it must equal."""

import importlib
import math
import warnings
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from textgan.metrics import (
    bleu,
    bleu_multi,
    self_bleu,
    self_bleu_multi,
    self_bleu_scores,
    sentence_bleu_scores,
)

bleu_module = importlib.import_module("textgan.metrics.bleu")  # the package attribute is the function
sentences = st.lists(st.sampled_from("abcde"), min_size=0, max_size=15)
METHODS = range(8)
ORDERS = range(1, 6)


def nltk_scores(hypotheses, references, n, method):
    """nltk's sentence BLEU of each hypothesis, or None where nltk fails (method6)."""
    smoothing = getattr(SmoothingFunction(), f"method{method}")
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # method0 warns about zero counts
        for hypothesis in hypotheses:
            try:
                scores.append(sentence_bleu(references, hypothesis, (1 / n,) * n, smoothing))
            except (AssertionError, IndexError):
                scores.append(None)
    return scores


def assert_matches_nltk(hypotheses, references, n, method, workers=2):
    expected = nltk_scores(hypotheses, references, n, method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # method0's zero-count warning, as in nltk
        if None in expected or (method == 6 and n < 3):
            with pytest.raises(ValueError, match="method6"):
                sentence_bleu_scores(hypotheses, references, n, f"method{method}", workers)
            return
        got = sentence_bleu_scores(hypotheses, references, n, f"method{method}", workers)
    assert got.shape == (len(hypotheses),)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    if method <= 4:  # nltk's float operations repeated: identical bits
        assert got.tolist() == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(sentences, min_size=1, max_size=4), st.lists(sentences, min_size=1, max_size=6))
def test_sentence_scores_equal_nltk(hypotheses, references):
    for method in METHODS:
        for n in ORDERS:
            assert_matches_nltk(hypotheses, references, n, method)


@settings(max_examples=40, deadline=None)
@given(st.lists(sentences, min_size=2, max_size=7), st.data())
def test_self_bleu_equals_nltk_leave_one_out(samples, data):
    if data.draw(st.booleans()):  # duplicates must count as references of each other
        samples = samples + [list(data.draw(st.sampled_from(samples)))]
    method = data.draw(st.sampled_from([0, 1, 2, 3, 4, 5, 7]))
    for n in ORDERS:
        expected = [
            nltk_scores([s], samples[:i] + samples[i + 1 :], n, method)[0] for i, s in enumerate(samples)
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            got = self_bleu(samples, n, f"method{method}", workers=data.draw(st.sampled_from([1, 2, 3])))
            scores = self_bleu_scores(samples, n, f"method{method}")
        assert got == pytest.approx(math.fsum(expected) / len(expected), abs=1e-12)
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(sentences, min_size=1, max_size=6), st.lists(sentences, min_size=2, max_size=6))
def test_results_do_not_depend_on_workers(hypotheses, references):
    assert len({repr(bleu_multi(hypotheses, references, workers=w)) for w in (1, 2, 5)}) == 1
    assert len({repr(self_bleu_multi(references, workers=w)) for w in (1, 2, 5)}) == 1


@settings(max_examples=20, deadline=None)
@given(st.lists(sentences, min_size=1, max_size=5), st.lists(sentences, min_size=2, max_size=5))
def test_unpackable_keys_fall_back_to_lexsort(hypotheses, references):
    expected = bleu_multi(hypotheses, references, workers=1), self_bleu_multi(references, workers=1)
    with mock.patch.object(bleu_module, "_INT64_LIMIT", 1):
        assert (bleu_multi(hypotheses, references, workers=1),
                self_bleu_multi(references, workers=1)) == expected


REFERENCES = [
    line.split()
    for line in (
        "a man riding a wave on top of a surfboard .",
        "a kitchen with a stove and a sink .",
        "two dogs playing with a frisbee in a park",
        "a man is riding a surfboard on a wave",
        "a bathroom with a toilet and a sink .",
    )
]
SAMPLES = [
    line.split()
    for line in (
        "a man riding a surfboard on a wave .",
        "a kitchen with a sink and a stove",
        "a dog playing frisbee",
        "a bathroom with a sink .",
        "",
        "zebra",
        "a",
    )
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", ORDERS)
def test_texygen_like_sentences(n, method):
    assert_matches_nltk(SAMPLES, REFERENCES, n, method, workers=1)


def test_means_and_multi_orders_agree():
    expected = {n: math.fsum(nltk_scores(SAMPLES, REFERENCES, n, 1)) / len(SAMPLES) for n in (2, 3, 4, 5)}
    assert bleu_multi(SAMPLES, REFERENCES) == pytest.approx(expected, abs=1e-15)
    assert bleu(SAMPLES, REFERENCES, 3) == bleu_multi(SAMPLES, REFERENCES)[3]
    assert self_bleu(REFERENCES, 2) == self_bleu_multi(REFERENCES, (2,))[2]


def test_nltk_docstring_example_and_edge_cases():
    hypothesis = ("It is a guide to action which ensures that the military always obeys the commands of "
                  "the party")
    references = [
        "It is a guide to action that ensures that the military will forever heed Party commands",
        ("It is the guiding principle which guarantees the military forces always being under the command "
         "of the Party"),
        "It is the practical guide for the army always to heed the directions of the party",
    ]
    score = sentence_bleu_scores([hypothesis.split()], [r.split() for r in references], smoothing=0)
    assert str(score[0]).startswith("0.5045")  # nltk's doctest: 0.5045...
    empty_and_unmatched = sentence_bleu_scores([[], ["q"]], [["a", "b"]])
    assert empty_and_unmatched.tolist() == [0.0, 0.0]
    mixed_tokens = [[1, (2, 3), "x", None], [None, 1]]
    assert_matches_nltk(mixed_tokens, mixed_tokens, 2, 1)


def test_method0_warns_like_nltk():
    with pytest.warns(UserWarning, match="method0"):
        sentence_bleu_scores([["a", "b"]], [["a", "c"]], n=2, smoothing="method0")


def test_no_numpy_warnings_on_edge_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for method in (1, 2, 3, 4, 5, 7):
            sentence_bleu_scores([[], ["q"], ["a"]], [[], ["a", "b"]], 4, method, workers=1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: bleu([["a"]], [], 2), "reference"),
        (lambda: bleu([], [["a"]], 2), "no hypotheses"),
        (lambda: bleu([["a"]], [["a"]], 2, smoothing="method8"), "smoothing"),
        (lambda: bleu([["a"]], [["a"]], 0), "orders"),
        (lambda: bleu([["a"]], [["a"]], 2, workers=0), "workers"),
        (lambda: self_bleu([["a"]], 2), "two samples"),
        (lambda: sentence_bleu_scores([["a"]], [["a"]], 2, "method6"), "method6"),
    ],
)
def test_bad_input_raises_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_smoothing_accepts_numbers():
    assert bleu(SAMPLES, REFERENCES, 4, 2) == bleu(SAMPLES, REFERENCES, 4, "method2")
