"""LM score and reverse LM score (Caccia et al.): equal to a hand computation of the trained LSTM's
per-token NLL on a tiny corpus (padding excluded), seeded, and they tell collapsed samples apart."""

import math

import pytest
import torch

from textgan.metrics import lm_score as lms

torch.set_num_threads(1)

PAD = 0
TRAIN = torch.tensor([[1, 2, 3, 4, 0, 0], [1, 3, 2, 4, 5, 0], [2, 3, 4, 0, 0, 0], [1, 2, 5, 6, 4, 0]] * 5)
SAMPLES = torch.tensor([[1, 2, 4, 0, 0, 0], [3, 3, 3, 3, 3, 3], [6, 5, 4, 0, 0, 0]] * 4)
TEST = torch.tensor([[1, 2, 3, 4, 0, 0], [2, 5, 6, 4, 0, 0]])
VOCAB = 7


def hand_nll(model: lms.LSTMLanguageModel, rows: torch.Tensor) -> float:
    """The LSTM's recurrence written out in float64, one token at a time (PyTorch's gate order i, f, g, o)."""
    p = {k: v.double() for k, v in model.state_dict().items()}
    total, count = 0.0, 0
    for row in rows.tolist():
        h, c, prev = (torch.zeros(lms.HIDDEN_DIM, dtype=torch.float64),
                      torch.zeros(lms.HIDDEN_DIM, dtype=torch.float64), VOCAB)
        for tok in row:
            x = p["embedding.weight"][prev]
            gates = (p["lstm.weight_ih_l0"] @ x + p["lstm.bias_ih_l0"] + p["lstm.weight_hh_l0"] @ h
                     + p["lstm.bias_hh_l0"])
            i, f, g, o = gates.chunk(4)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            logits = p["out.weight"] @ h + p["out.bias"]
            if tok != PAD:
                total -= float(logits.log_softmax(-1)[tok])
                count += 1
            prev = tok
    return total / count


@pytest.fixture
def short_training(monkeypatch):
    monkeypatch.setattr(lms, "MAX_STEPS", 40)
    monkeypatch.setattr(lms, "EVAL_EVERY", 10)


def test_lm_score_is_the_trained_lms_nll_of_the_samples(short_training):
    model = lms.train_language_model(TRAIN, VOCAB, PAD, seed=0)
    want = hand_nll(model, SAMPLES)
    assert lms.lm_score(SAMPLES, TRAIN, VOCAB, PAD) == pytest.approx(want, rel=1e-6)
    assert lms.lm_score(SAMPLES, TRAIN, VOCAB, PAD, model=model) == pytest.approx(want, rel=1e-6)
    assert hand_nll(model, TRAIN) < math.log(VOCAB)  # it learned something in 40 steps


def test_reverse_lm_score_is_the_sample_lms_nll_of_the_test_rows(short_training):
    model = lms.train_language_model(SAMPLES, VOCAB, PAD, seed=0)
    assert lms.reverse_lm_score(SAMPLES, TEST, VOCAB, PAD) == pytest.approx(hand_nll(model, TEST), rel=1e-6)


def test_padding_is_excluded_and_every_real_token_counted():
    model = lms.LSTMLanguageModel(VOCAB)
    rows = torch.tensor([[1, 2, 0, 0], [3, 0, 0, 0]])
    assert lms.mean_nll(model, rows, PAD) == pytest.approx(hand_nll(model, rows), rel=1e-6)
    assert lms.mean_nll(model, rows, None) != pytest.approx(lms.mean_nll(model, rows, PAD))


def test_collapsed_samples_score_worse_on_the_reverse_lm(monkeypatch):
    """Samples that cover the language teach an LM the test rows; one sentence repeated does not."""
    monkeypatch.setattr(lms, "MAX_STEPS", 300)
    gen = torch.Generator().manual_seed(0)
    language = torch.randint(1, VOCAB, (400, 6), generator=gen)
    language[:, 1::2] = (language[:, ::2] % (VOCAB - 1)) + 1  # each odd token follows from the one before
    test = torch.randint(1, VOCAB, (100, 6), generator=gen)
    test[:, 1::2] = (test[:, ::2] % (VOCAB - 1)) + 1
    collapsed = language[:1].repeat(400, 1)
    assert (lms.reverse_lm_score(language, test, VOCAB, None)
            < lms.reverse_lm_score(collapsed, test, VOCAB, None) - 1)
    assert lms.lm_score(collapsed, language, VOCAB, None) < lms.lm_score(torch.randint(1, VOCAB, (400, 6)),
                                                                        language, VOCAB, None)
