"""ScratchGAN: the discounted per-token returns, the moving-average baseline and G's loss against hand
computations, D's one logit per prefix with padding masked (in its output and in its loss), the
layer-normed LSTM against PyTorch's LSTM and a hand step, resume after SIGKILL and `textgan doctor`."""

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from runs import assert_resumes_like
from test_text_game import ORACLE, error_line, write_corpus

from textgan.cli import main
from textgan.config import LossConfig
from textgan.core.checkpoint import load_checkpoint
from textgan.core.objective import Objective
from textgan.games import recipe_from_dict
from textgan.text.game import build_game
from textgan.text.scratchgan import (
    LayerNormLSTM,
    ScratchGANGame,
    discounted_returns,
    position_signal,
    token_rewards,
)
from textgan.text.tokenize import EOS

torch.set_num_threads(1)

TINY = {"family": "scratchgan", "signal": "pg", "emb_dim": 8, "hidden_dim": 8, "d_emb_dim": 8,
        "d_lstm_dim": 8, "d_dropout": 0.1}


def text_data(tmp_path: Path) -> dict:
    """A tiny word corpus: rows are tokens, EOS, then padding."""
    return {"source": "files", "train_files": [str(write_corpus(tmp_path / "train.txt", 300, 1))],
            "test_files": [str(write_corpus(tmp_path / "test.txt", 60, 2))], "tokenizer": "whitespace",
            "max_len": 8, "n_eval": 40, "bleu_samples": 20}


def scratch_game(data: dict, **model) -> ScratchGANGame:
    recipe = recipe_from_dict({"game": "text", "data": data, "model": {**TINY, **model},
                               "train": {"batch_size": 8, "steps": 4}})
    game = build_game(recipe, torch.device("cpu"))
    assert isinstance(game, ScratchGANGame)
    return game


def hand_returns(rewards: list[list[float]], gamma: float) -> list[list[float]]:
    """The reference's double loop: R_t = sum over s >= t of gamma^(s - t) r_s."""
    return [[sum(gamma ** (s - t) * row[s] for s in range(t, len(row))) for t in range(len(row))]
            for row in rewards]


def test_discounted_returns_equal_a_hand_computation():
    fixed = discounted_returns(torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]), 0.5)
    assert fixed.tolist() == [[0.75, -0.5, -1.0], [0.875, 0.75, 0.5]]
    torch.manual_seed(0)
    for gamma in (0.0, 0.23, 0.9, 1.0):
        rewards = torch.rand(5, 9, dtype=torch.float64) * 2 - 1
        expected = torch.tensor(hand_returns(rewards.tolist(), gamma), dtype=torch.float64)
        assert torch.allclose(discounted_returns(rewards, gamma), expected, rtol=0, atol=1e-12)
    assert torch.equal(discounted_returns(rewards, 0.0), rewards)  # no discount: each token its own


def test_rewards_are_two_sigmoid_minus_one_up_to_the_end_and_sparse_keeps_the_last():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0], [0.0, 1.0, -2.0, 4.0]])
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    dense = token_rewards(logits, mask)
    expected = (2 * torch.sigmoid(logits) - 1) * mask
    assert torch.equal(dense, expected)
    sparse = token_rewards(logits, mask, dense=False)
    assert sparse.tolist() == [[0, expected[0, 1].item(), 0, 0], [0, 0, 0, expected[1, 3].item()]]


def test_baseline_and_generator_loss_equal_a_hand_computation(tmp_path: Path, monkeypatch):
    """Three G steps on fixed samples (with EOS, so padding is masked) against a D of known logits:
    each step's baseline is decay * b + (1 - decay) * mean R over the counted tokens, and G's loss is
    -mean over those tokens of log p * (R - b), b already updated with the batch (the reference's order)."""
    game = scratch_game(text_data(tmp_path), discount=0.23, baseline_decay=0.08)
    torch.manual_seed(1)
    vocab = game.data.vocab_size
    samples = torch.randint(4, vocab, (8, game.seq_len))
    samples[0, 2] = samples[3, 5] = samples[5, 0] = EOS
    monkeypatch.setattr(game.generator, "sample", lambda n, t: samples.clone())
    monkeypatch.setattr(game.discriminator, "forward", lambda x: torch.sin(x.float() * 0.7) * 2)
    ends = [2, None, None, 5, None, 0, None, None]
    mask = [[end is None or t <= end for t in range(game.seq_len)] for end in ends]
    logits = (torch.sin(samples.float() * 0.7) * 2).tolist()
    rewards = [[(2 / (1 + math.exp(-x)) - 1) * m for x, m in zip(row, mrow)]
               for row, mrow in zip(logits, mask)]
    returns = hand_returns(rewards, 0.23)
    counted = [r for row, mrow in zip(returns, mask) for r, m in zip(row, mrow) if m]
    baseline = 0.0
    for _ in range(3):
        baseline = 0.08 * baseline + 0.92 * sum(counted) / len(counted)
        loss, logged = game.generator_loss(Objective(LossConfig("vanilla")), 8)
        log_p = game.generator.log_probs(samples).tolist()
        expected = -sum(lp * (r - baseline) for row_lp, row_r, mrow in zip(log_p, returns, mask)
                        for lp, r, m in zip(row_lp, row_r, mrow) if m) / len(counted)
        assert game.baseline.item() == pytest.approx(baseline, rel=1e-6)
        assert logged["baseline"] == pytest.approx(baseline, rel=1e-6)
        assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert logged["return_mean"] == pytest.approx(sum(counted) / len(counted), rel=1e-6)
    loss.backward()
    assert game.generator.out.weight.grad.abs().sum() > 0
    state = game.state_dict()
    fresh = scratch_game(text_data(tmp_path))
    fresh.load_state_dict(state)
    assert torch.equal(fresh.baseline, game.baseline)


def test_d_gives_one_logit_per_prefix_with_padding_masked(tmp_path: Path):
    game = scratch_game(text_data(tmp_path), d_lstm_layers=2)
    D = game.discriminator.eval()
    torch.manual_seed(2)
    x = torch.randint(4, game.data.vocab_size, (6, game.seq_len))
    x[1, 3] = x[4, 0] = EOS
    logits = D(x)
    assert logits.shape == x.shape
    assert not logits[1, 4:].any() and not logits[4, 1:].any()  # zero past the end
    assert logits[1, :4].all() and logits[0].all()
    for k in range(game.seq_len):  # the logit at t sees tokens 0..t only
        y = x.clone()
        y[:, k] = (y[:, k] + 1 - 4) % (game.data.vocab_size - 4) + 4
        y[1, 3] = y[4, 0] = EOS
        changed = D(y)
        assert torch.equal(changed[:, :k], logits[:, :k])
        assert (changed[0, k:] != logits[0, k:]).all()
    valid = D.prefix_mask(x)
    assert valid.sum() == 6 * game.seq_len - (game.seq_len - 4) - (game.seq_len - 1)
    assert torch.equal(game.discriminate(x), logits[valid])
    # D's loss: the recipe's loss averaged over the counted positions of reals and of fakes
    real, fake = game.real_batch(), x
    loss, d_real, d_fake, _ = game.discriminator_loss(Objective(LossConfig("vanilla")), real, fake)
    all_real = D(real)
    expected = F.softplus(-all_real[D.prefix_mask(real)]).mean() + F.softplus(logits[valid]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert len(d_real) == D.prefix_mask(real).sum() and torch.equal(d_fake, logits[valid])
    junk = x.clone()
    junk[1, 4:] = 7
    junk[4, 1:] = 9  # what follows the end changes neither D's outputs there nor its loss
    assert torch.equal(D(junk), logits)
    assert game.discriminator_loss(Objective(LossConfig("vanilla")), real, junk)[0].item() == loss.item()


def test_the_lstm_without_layer_norm_is_pytorchs_and_a_normed_step_is_the_formula():
    torch.manual_seed(3)
    cell, x = LayerNormLSTM(5, 4, layer_norm=False), torch.randn(3, 6, 5)
    with torch.no_grad():
        cell.bias.normal_()
    ref = torch.nn.LSTM(5, 4, batch_first=True)
    i, j, f, o = cell.weight.detach().chunk(4, dim=1)
    bi, bj, bf, bo = cell.bias.detach().chunk(4)
    with torch.no_grad():  # PyTorch's gates are ordered i, f, g, o; ours i, j, f, o with forget bias 1
        ref.weight_ih_l0.copy_(torch.cat([i[:5], f[:5], j[:5], o[:5]], dim=1).T)
        ref.weight_hh_l0.copy_(torch.cat([i[5:], f[5:], j[5:], o[5:]], dim=1).T)
        ref.bias_ih_l0.copy_(torch.cat([bi, bf + 1, bj, bo]))
        ref.bias_hh_l0.zero_()
    assert torch.allclose(cell(x), ref(x)[0], atol=1e-6)
    normed = LayerNormLSTM(5, 4)
    gates = x[:, 0] @ normed.weight[:5]  # first step: h = c = 0
    gates = (gates - gates.mean(-1, keepdim=True)) / torch.sqrt(gates.var(-1, unbiased=False, keepdim=True)
                                                                 + 1e-5)
    gi, gj, _, go = gates.chunk(4, dim=-1)  # the forget gate multiplies c = 0
    h = torch.tanh(torch.sigmoid(gi) * torch.tanh(gj)) * torch.sigmoid(go)
    assert torch.allclose(normed(x)[:, 0], h, atol=1e-6)


def test_position_signal_is_the_references_sine_waves():
    pos = position_signal(20)
    assert pos.shape == (20, 8)
    assert pos[0, 0] == 1 and abs(pos[1, 0]) < 1e-6 and pos[2, 0] == pytest.approx(-1)  # period 2
    slowest = pos[:, 7]  # period 20 shifted by 2: cos(pi t / 20), falling over the whole sentence
    assert torch.allclose(slowest, torch.cos(math.pi * torch.arange(20) / 20), atol=1e-5)
    assert (slowest[1:] < slowest[:-1]).all()


def test_on_the_oracle_every_position_counts_and_sparse_rewards_train():
    game = scratch_game(ORACLE, dense_rewards=False)
    x = game.real_batch()
    assert game.discriminate(x).numel() == x.numel()  # no EOS in oracle rows
    loss, logged = game.generator_loss(Objective(LossConfig("vanilla")), 8)
    loss.backward()
    assert math.isfinite(logged["reward_mean"]) and game.generator.out.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- through the command line
def scratch_recipe(tmp_path: Path) -> Path:
    recipe = {
        "name": "tiny_scratch", "game": "text", "seed": 3, "data": text_data(tmp_path),
        "model": TINY,
        "train": {"steps": 20, "batch_size": 16, "log_every": 5, "checkpoint_every": 5, "progress": False},
        "loss": {"name": "vanilla"},
        "optim_g": {"lr": 1.0e-3, "betas": [0.5, 0.999]},
        "optim_d": {"lr": 1.0e-3, "betas": [0.5, 0.999], "weight_decay": 2.0e-6},
        "eval": {"every": 10, "metric": "nll_gen", "mode": "min"},
    }
    path = tmp_path / "tiny_scratch.yaml"
    path.write_text(json.dumps(recipe))
    return path


@pytest.fixture(scope="module")
def scratch_run(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny recipe trained once in this process: (recipe, run folder)."""
    tmp = tmp_path_factory.mktemp("scratch")
    recipe = scratch_recipe(tmp)
    assert main(["train", str(recipe), "--out", str(tmp / "run")]) == 0
    return recipe, tmp / "run"


def test_a_run_from_scratch_logs_rewards_and_the_doctor_reads_it(scratch_run, capsys):
    _, out = scratch_run
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert not any("mle_loss" in r for r in records)  # no pre-training
    assert {"reward_mean", "return_mean", "baseline", "d_loss", "g_loss"} <= set(records[-1])
    assert {r["step"] for r in records if "nll_gen" in r} == {10, 20}
    capsys.readouterr()
    assert main(["doctor", str(out)]) == 0
    assert capsys.readouterr().out.strip()


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path, scratch_run):
    recipe, straight = scratch_run
    killed = tmp_path / "killed"
    assert_resumes_like(recipe, straight, killed, 20, "nll_gen")
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt")["game"] for run in (straight, killed))
    assert torch.equal(a["baseline"], b["baseline"]) and a["baseline"] != 0


@pytest.mark.parametrize("override,message", [
    ("model.discount=1.5", "model.discount must be in [0, 1]"),
    ("model.baseline_decay=-0.1", "model.baseline_decay must be in [0, 1]"),
    ("model.d_lstm_dim=0", "model.d_lstm_dim"),
    ("loss.name=rsgan", "rsgan pairs each real logit with a fake one"),
])
def test_bad_settings_exit_2_with_one_error_line(tmp_path: Path, capsys, override, message):
    line = error_line(capsys, "train", str(scratch_recipe(tmp_path)), "--out", str(tmp_path / "o"),
                      "--set", override)
    assert message in line
