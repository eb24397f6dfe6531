from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import data_or_skip
from textgan.errors import UserError
from textgan.text import Oracle, make_oracle_dataset

torch.set_num_threads(1)



@pytest.fixture
def npz() -> Path:
    """SeqGAN's published oracle (the data set seqgan-oracle), or a skip naming `textgan data get`."""
    return data_or_skip("seqgan-oracle", "oracle")


@pytest.mark.slow
def test_own_samples_score_the_published_nll(npz):
    oracle = Oracle.from_npz(npz)
    data = make_oracle_dataset(oracle, n=10_000, seq_len=20, seed=0)
    assert data.shape == (10_000, 20)
    assert abs(oracle.nll(data).mean().item() - 5.750) <= 0.01


def sig(z):
    return 1 / (1 + np.exp(-z))


def test_nll_follows_the_readme_recurrence(npz):
    """A direct float64 transcription of the README with the separate gate matrices."""
    p = {k: v.astype(np.float64) for k, v in np.load(npz).items()}
    tokens = torch.randint(0, 5000, (3, 6), generator=torch.Generator().manual_seed(1))
    want = []
    for seq in tokens.tolist():
        h, c, prev, total = np.zeros(32), np.zeros(32), 0, 0.0
        for tok in seq:
            x = p["embedding"][prev]
            i = sig(x @ p["Wi"] + h @ p["Ui"] + p["bi"])
            f = sig(x @ p["Wf"] + h @ p["Uf"] + p["bf"])
            o = sig(x @ p["Wog"] + h @ p["Uog"] + p["bog"])
            c = f * c + i * np.tanh(x @ p["Wc"] + h @ p["Uc"] + p["bc"])
            h = o * np.tanh(c)
            logits = h @ p["Wo"] + p["bo"]
            total += np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[tok]
            prev = tok
        want.append(total / len(seq))
    got = Oracle.from_npz(npz).double().nll(tokens, batch_size=2)
    assert got.shape == (3,)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


def test_nll_is_a_normalised_distribution_and_sampling_matches_it():
    oracle = Oracle.random(vocab_size=3, seq_len=2, emb=4, hidden=4, seed=3).double()
    every = torch.cartesian_prod(torch.arange(3), torch.arange(3))
    prob = torch.exp(-2 * oracle.nll(every))
    assert prob.sum().item() == pytest.approx(1.0, abs=1e-12)
    samples = oracle.sample(20_000, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(samples[:, 0] * 3 + samples[:, 1], minlength=9).double() / len(samples)
    assert torch.allclose(freq, prob, atol=0.015)


def test_sample_shapes_and_reproducibility():
    oracle = Oracle.random(vocab_size=50, seq_len=7, seed=0)
    a = oracle.sample(9, generator=torch.Generator().manual_seed(5))
    assert a.shape == (9, 7) and a.dtype == torch.long
    assert 0 <= a.min() and a.max() < 50
    b = oracle.sample(9, generator=torch.Generator().manual_seed(5), batch_size=4)
    assert torch.equal(a, b)  # the batch size does not change the samples
    assert not torch.equal(a, oracle.sample(9, generator=torch.Generator().manual_seed(6)))
    assert oracle.sample(4, seq_len=3).shape == (4, 3)
    nll = oracle.nll(a)
    assert nll.shape == (9,) and bool((nll > 0).all())
    assert torch.allclose(nll, oracle.nll(a, batch_size=2))


def test_dataset_is_reproducible_from_the_seed():
    oracle = Oracle.random(vocab_size=20, seed=1)
    first = make_oracle_dataset(oracle, n=16, seq_len=5, seed=7)
    assert torch.equal(first, make_oracle_dataset(oracle, n=16, seq_len=5, seed=7))
    assert not torch.equal(first, make_oracle_dataset(oracle, n=16, seq_len=5, seed=8))


def test_random_oracle_is_standard_normal_and_seeded():
    a, b = Oracle.random(100, seed=0), Oracle.random(100, seed=0)
    assert a.embedding.shape == (100, 32) and a.W.shape == (32, 128) and a.Wo.shape == (32, 100)
    assert all(torch.equal(x, y) for x, y in zip(a.buffers(), b.buffers()))
    assert not torch.equal(a.Wo, Oracle.random(100, seed=1).Wo)
    assert abs(a.embedding.std().item() - 1) < 0.1 and abs(a.embedding.mean().item()) < 0.1
    assert list(a.parameters()) == []  # the oracle is never trained


def test_bad_inputs(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Oracle.from_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "partial.npz", embedding=np.zeros((5, 4)))
    with pytest.raises(UserError, match="missing"):
        Oracle.from_npz(tmp_path / "partial.npz")
    with pytest.raises(UserError, match=r"\[0, 10\)"):
        Oracle.random(10).nll(torch.tensor([[1, 10]]))
