"""Quality–diversity sweep over temperature on a tiny untrained LSTM and a random oracle."""

import pytest
import torch

from textgan.errors import UserError
from textgan.metrics import nll_gen, nll_oracle
from textgan.sweep import Tempered, format_table, plot_sweep, sweep
from textgan.text.generators import LSTMGenerator
from textgan.text.oracle import Oracle

V, T = 12, 6


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    g = LSTMGenerator(V, emb_dim=8, hidden_dim=8, bos_id=0)
    with torch.no_grad():
        g.out.weight.mul_(20)  # a peaked model, so temperature matters
    oracle = Oracle.random(V, seq_len=T, emb=4, hidden=4, seed=1)
    test = oracle.sample(30, generator=torch.Generator().manual_seed(2))
    return g, oracle, test


def test_tempered_log_probs_are_the_scaled_softmax(setup):
    g, _, test = setup
    expected = torch.log_softmax(g(test) / 0.5, -1).gather(-1, test[..., None])[..., 0]
    torch.testing.assert_close(Tempered(g, 0.5).log_probs(test), expected)


def test_rows_match_the_metrics_and_low_temperature_collapses(setup, tmp_path):
    g, oracle, test = setup
    words = [f"w{i}" for i in range(V)]
    rows = sweep(g, [0.01, 1.0], 40, T, test, pad_id=None, oracle=oracle,
                 decode=lambda s: [" ".join(words[i] for i in row) for row in s.tolist()],
                 references=[" ".join(words[i] for i in row) for row in test.tolist()], tokenize=str.split)
    assert [r["temperature"] for r in rows] == [0.01, 1.0]
    assert set(rows[0]) == {"temperature", "nll_gen", "nll_oracle", "bleu_2", "bleu_5", "self_bleu_2", "self_bleu_5"}
    assert rows[1]["nll_gen"] == pytest.approx(nll_gen(g, test, pad_id=None), rel=1e-6)
    torch.manual_seed(0)
    assert rows[1]["nll_oracle"] == pytest.approx(nll_oracle(oracle, g.sample(40, T)), rel=1e-6)
    assert rows[0]["self_bleu_5"] == pytest.approx(1.0)  # near-greedy: every sample the same sentence
    assert rows[1]["self_bleu_5"] < 1.0
    assert rows[0]["nll_gen"] > rows[1]["nll_gen"]  # a sharpened model explains test data worse
    assert g.training, "the generator's training flag is restored"
    assert "temperature" in format_table(rows).splitlines()[0] and len(format_table(rows).splitlines()) == 3
    plot_sweep(rows, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_temperatures_are_user_errors(setup):
    g, _, test = setup
    with pytest.raises(UserError, match="> 0"):
        sweep(g, [1.0, 0.0], 4, T, test, pad_id=None)
    with pytest.raises(UserError, match="no temperatures"):
        sweep(g, [], 4, T, test, pad_id=None)
