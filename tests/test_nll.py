"""NLL metrics against hand computations on tiny models."""

import math

import pytest
import torch
from torch import nn

from textgan.metrics import nll_div, nll_gen, nll_oracle, perplexity, token_mask
from textgan.text.generators import LSTMGenerator
from textgan.text.oracle import Oracle

LN2 = math.log(2)


class Unigram(nn.Module):
    """Every position predicts p = (1/2, 1/4, 1/8, 1/8), whatever came before."""

    def __init__(self) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64)))
        self.dropout = nn.Dropout(0.5)

    def log_probs(self, tokens: torch.Tensor) -> torch.Tensor:
        assert not self.training, "scoring must run in eval mode"
        return torch.log_softmax(self.dropout(self.logits), -1)[tokens]


# pad = 0, eos = 3; rows: "1 2 <eos> <pad>" and "3(eos) 1 2 <pad>"
TOKENS = torch.tensor([[1, 2, 3, 0], [3, 1, 2, 0]])


def test_nll_gen_excludes_padding_and_legacy_includes_it():
    model = Unigram().train()
    # real tokens 1,2,3 | 3,1,2: -ln(1/4), -ln(1/8), -ln(1/8) twice -> (2+3+3)*2 ln2 / 6
    assert nll_gen(model, TOKENS, pad_id=0) == pytest.approx(8 / 3 * LN2, rel=1e-12)
    # legacy: the two pads (-ln(1/2) each) are averaged in: (16 + 2) ln2 / 8
    assert nll_gen(model, TOKENS, pad_id=0, legacy=True) == pytest.approx(18 / 8 * LN2, rel=1e-12)
    assert model.training, "the training flag is restored"


def test_eos_cuts_the_rest_of_a_row():
    assert token_mask(TOKENS, pad_id=0, eos_id=3).tolist() == [[True, True, True, False],
                                                               [True, False, False, False]]
    # kept: 1,2,3 and 3 -> (2+3+3+3) ln2 / 4
    assert nll_div(Unigram(), TOKENS, pad_id=0, eos_id=3) == pytest.approx(11 / 4 * LN2, rel=1e-12)
    assert nll_div(Unigram(), TOKENS) == pytest.approx((2 + 3 + 3 + 1 + 3 + 2 + 3 + 1) / 8 * LN2)


def test_nll_gen_of_an_lstm_equals_its_cross_entropy_in_any_batch_size():
    torch.manual_seed(0)
    g = LSTMGenerator(11, emb_dim=8, hidden_dim=8, bos_id=1)
    tokens = torch.randint(2, 11, (7, 5))
    tokens[2, 3:] = 0
    tokens[5, 1:] = 0
    mask = tokens != 0
    with torch.no_grad():
        ce = nn.functional.cross_entropy(g(tokens).transpose(1, 2), tokens, reduction="none")
    expected = float(ce[mask].double().sum() / mask.sum())
    for batch_size in (1, 3, 256):
        assert nll_gen(g, tokens, pad_id=0, batch_size=batch_size) == pytest.approx(expected, rel=1e-6)
    assert nll_gen(g, tokens, pad_id=0, legacy=True) == pytest.approx(float(ce.double().mean()), rel=1e-6)


def test_nll_oracle_is_the_mean_of_the_oracles_nll():
    oracle = Oracle.random(50, seq_len=6, emb=4, hidden=4, seed=1)
    samples = oracle.sample(20, generator=torch.Generator().manual_seed(0))
    assert nll_oracle(oracle, samples) == pytest.approx(float(oracle.nll(samples).double().mean()), rel=1e-12)


def test_perplexity():
    assert perplexity(LN2) == pytest.approx(2.0)
    assert perplexity(0.0) == 1.0
    assert perplexity(1e6) == math.inf


@pytest.mark.parametrize("bad", [torch.zeros(3, dtype=torch.long), torch.zeros(0, 4, dtype=torch.long),
                                 torch.zeros(2, 2)])
def test_bad_token_tensors_are_rejected(bad):
    with pytest.raises(ValueError):
        nll_gen(Unigram(), bad, pad_id=None)


def test_all_padding_is_an_error():
    with pytest.raises(ValueError, match="no tokens"):
        nll_gen(Unigram(), torch.zeros(2, 3, dtype=torch.long), pad_id=0)
