"""RankGAN: rank scores against hand computations (they sum to one over a comparison set), the ranker's
loss with its comparison sets, rank-score rewards per sample and position, the family's recipe checks,
and a run through the command line that resumes bit-for-bit after SIGKILL and that the doctor reads."""

import json
import math
from pathlib import Path

import pytest
import torch
from runs import assert_resumes_like

from textgan.cli import main
from textgan.config import LossConfig
from textgan.core.objective import Objective
from textgan.errors import UserError
from textgan.games import load_recipe, recipe_from_dict
from textgan.storage import RECIPES_DIR as RECIPES
from textgan.text import game as text_game
from textgan.text.game import build_game
from textgan.text.rankgan import RankGANGame, cosine_to_references, log_rank_scores

torch.set_num_threads(1)

TINY = {"emb_dim": 8, "hidden_dim": 8, "d_emb_dim": 8, "d_filter_sizes": [2, 3], "d_num_filters": [8, 8],
        "family": "rankgan", "signal": "pg", "discriminator": "seqgan", "rank_refs": 4, "rollouts": 4}
ORACLE = {"source": "oracle", "oracle": "random", "oracle_vocab": 30, "seq_len": 6, "n_train": 64,
          "n_heldout": 32, "n_eval": 40}
BATCH = 8


def rank_game(loss: dict | None = None, **model) -> RankGANGame:
    recipe = recipe_from_dict({"game": "text", "data": ORACLE, "model": {**TINY, **model},
                               "train": {"batch_size": BATCH, "steps": 4}, "loss": loss or {}})
    return build_game(recipe, torch.device("cpu"))


def hand_rank_score(s: list[float], others: list[list[float]], refs: list[list[float]],
                    gamma: float) -> float:
    """R(s|U, C) written out as the paper defines it: mean over references u of
    exp(gamma cos(s, u)) / sum over s' in C + {s} of exp(gamma cos(s', u))."""
    def cos(a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    total = 0.0
    for u in refs:
        total += math.exp(gamma * cos(s, u)) / sum(math.exp(gamma * cos(t, u)) for t in [s, *others])
    return total / len(refs)


def rank_scores(features: torch.Tensor, others: torch.Tensor, refs: torch.Tensor,
                gamma: float) -> torch.Tensor:
    alpha, alpha_others = cosine_to_references(features, refs), cosine_to_references(others, refs)
    return log_rank_scores(alpha, alpha_others, gamma).exp()


def test_rank_score_equals_the_hand_computation_on_tiny_features():
    s, others = [[1.0, 0.0], [2.0, 1.0]], [[0.0, 1.0], [1.0, 1.0], [3.0, -1.0]]
    refs = [[1.0, 0.0], [1.0, 2.0]]
    got = rank_scores(torch.tensor(s), torch.tensor(others), torch.tensor(refs), 2.0)
    # sentence [1, 0]: cosines 1 and 1/sqrt(5) to the references; its rivals' cosines computed alike
    assert got.tolist() == pytest.approx([hand_rank_score(row, others, refs, 2.0) for row in s], rel=1e-6)
    gen = torch.Generator().manual_seed(0)
    for gamma in (0.5, 1.0, 16.0):
        s, others, refs = (torch.randn(n, 5, generator=gen, dtype=torch.float64) for n in (4, 7, 3))
        expected = [hand_rank_score(row, others.tolist(), refs.tolist(), gamma) for row in s.tolist()]
        assert rank_scores(s, others, refs, gamma).tolist() == pytest.approx(expected, rel=1e-5)


def test_ranks_sum_to_one_over_the_comparison_set():
    """Each member of a comparison set ranked against the others: the rank scores sum to one, from
    random features and from the ranker's own features of sentences."""
    gen = torch.Generator().manual_seed(1)
    features, refs = torch.randn(9, 6, generator=gen), torch.randn(5, 6, generator=gen)
    game = rank_game()
    game.discriminator.eval()
    tokens = game.real_batch()
    net_features, net_refs = game.discriminator(tokens), game.discriminator(game.references.next())
    for members, u in ((features, refs), (net_features, net_refs)):
        for gamma in (1.0, 16.0):
            ranks = [rank_scores(members[i : i + 1], torch.cat([members[:i], members[i + 1 :]]), u, gamma)
                     for i in range(len(members))]
            assert torch.cat(ranks).sum().item() == pytest.approx(1.0, abs=1e-5)
    alone = log_rank_scores(cosine_to_references(features[:3], refs), torch.zeros(0, 5), 16.0)
    assert torch.equal(alone, torch.zeros(3))  # nothing to be ranked against: R = 1


def test_the_ranker_loss_ranks_reals_among_fakes_and_fakes_among_reals():
    game = rank_game(d_dropout=0.0)
    real, fake = game.real_batch(), game.fake_batch(BATCH)
    loss, d_real, d_fake, _ = game.discriminator_loss(Objective(LossConfig()), real, fake)
    refs, seen_fakes = game._context
    assert torch.equal(seen_fakes, fake) and len(refs) == 4
    with torch.no_grad():
        f_real, f_fake, f_refs = (game.discriminator(x).double() for x in (real, fake, refs))
    def log_r(rows: torch.Tensor, others: torch.Tensor) -> list[float]:
        return [math.log(hand_rank_score(r, others.tolist(), f_refs.tolist(), 16.0)) for r in rows.tolist()]

    log_r_real, log_r_fake = log_r(f_real, f_fake), log_r(f_fake, f_real)
    assert loss.item() == pytest.approx(sum(log_r_fake) / BATCH - sum(log_r_real) / BATCH, abs=1e-4)
    # the logged "logits": log(|C'| R), C' = the sentence and the other side's batch
    assert d_real.tolist() == pytest.approx([v + math.log(BATCH + 1) for v in log_r_real], abs=1e-4)
    assert d_fake.tolist() == pytest.approx([v + math.log(BATCH + 1) for v in log_r_fake], abs=1e-4)
    loss.backward()
    assert all(p.grad is not None for p in game.discriminator.parameters())
    # `discriminate` ranks among the last step's fakes against its references
    with torch.no_grad():
        assert game.discriminate(real).tolist() == pytest.approx(d_real.tolist(), abs=1e-4)


def test_the_game_state_carries_the_reference_stream_and_the_probe_context():
    """A game restored from another's state draws the same next references and probes D as it does."""
    game, other = rank_game(), rank_game()
    game.discriminator_loss(Objective(LossConfig()), game.real_batch(), game.fake_batch(BATCH))
    other.discriminator.load_state_dict(game.discriminator.state_dict())
    other.load_state_dict(game.state_dict())
    for g in (game, other):
        g.discriminator.eval()
    probe = game.heldout_slice()
    assert torch.equal(other.discriminate(probe), game.discriminate(probe))
    assert not torch.equal(game.discriminate(probe), torch.zeros(len(probe)))
    assert torch.equal(other.references.next(), game.references.next())


def test_a_few_ranker_steps_rank_reals_above_fakes():
    game = rank_game(d_dropout=0.0)
    opt = torch.optim.Adam(game.discriminator.parameters(), lr=1e-2)
    objective = Objective(LossConfig())
    fakes = [game.fake_batch(BATCH) for _ in range(4)]
    first = None
    for step in range(60):
        opt.zero_grad()
        loss, d_real, d_fake, _ = game.discriminator_loss(objective, game.real_batch(), fakes[step % 4])
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < first - 1 and (d_real > 0).float().mean() > 0.7 and (d_fake < 0).float().mean() > 0.7


def test_rewards_land_per_sample_and_position(monkeypatch):
    """The ranker sees only whether token 2 is `marker`; the references carry it and the comparison
    reals do not. From position 2 on, each sample's reward is its rank score by hand, whatever the
    rollouts draw: exp(g) / (exp(g) + B) with the marker, 1 / (B + 1) without."""
    gamma, marker = 2.0, 5
    game = rank_game(rank_gamma=gamma)

    def features():
        return lambda tokens: torch.stack([tokens[:, 2] == marker, tokens[:, 2] != marker], 1).float()

    refs, reals = game.data.train[:4].clone(), game.data.train[:BATCH].clone()
    refs[:, 2], reals[:, 2] = marker, marker + 1
    monkeypatch.setattr(game.discriminator, "scorer", features)
    monkeypatch.setattr(game.references, "next", lambda: refs)
    monkeypatch.setattr(game, "real_batch", lambda: reals)
    seen = {}
    real_rollouts = text_game.mc_rollout_rewards

    def spy(generator, samples, score, num_rollouts):
        samples[::2, 2], samples[1::2, 2] = marker, marker + 1
        seen["samples"], seen["rewards"] = samples, real_rollouts(generator, samples, score, num_rollouts)
        return seen["rewards"]

    monkeypatch.setattr(text_game, "mc_rollout_rewards", spy)
    loss, logged = game.generator_loss(Objective(LossConfig()), BATCH)
    loss.backward()
    rewards = seen["rewards"]
    assert rewards.shape == (BATCH, 6)
    high, low = math.exp(gamma) / (math.exp(gamma) + BATCH), 1 / (BATCH + 1)
    expected = torch.tensor([high, low] * (BATCH // 2))[:, None].expand(-1, 4)
    assert torch.allclose(rewards[:, 2:], expected, rtol=1e-5)
    assert ((rewards[:, :2] >= low - 1e-6) & (rewards[:, :2] <= high + 1e-6)).all()
    assert logged["reward_mean"] == pytest.approx(rewards.mean().item())
    assert game.generator.out.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("model,message", [
    ({"signal": "gumbel"}, "set model.signal to pg"),
    ({"discriminator": "relgan"}, "set model.discriminator to seqgan"),
    ({"pg_reward": "maligan"}, "model.pg_reward"),
    ({"rank_gamma": 0}, "model.rank_gamma must be > 0"),
    ({"rank_refs": 65}, "model.rank_refs 65 is more than the 64 training sentences"),
    ({"loss": {"name": "wgan"}}, "would clip the ranker.s weights"),
    ({"loss": {"label_smoothing": 0.1}}, "its own loss"),
])
def test_recipes_the_family_cannot_train_are_refused(model, message):
    with pytest.raises(UserError, match=message):
        rank_game(**model)


def test_the_bundled_recipes_share_the_mle_generator_shape():
    oracle, mle = (load_recipe(RECIPES / f"{name}.yaml") for name in ("rankgan_oracle", "mle_oracle"))
    shape = ("generator", "emb_dim", "hidden_dim", "g_init_std")
    assert [getattr(oracle.model, k) for k in shape] == [getattr(mle.model, k) for k in shape]
    assert oracle.data.seq_len == 20 and oracle.model.family == "rankgan"
    assert load_recipe(RECIPES / "rankgan_coco.yaml").model.family == "rankgan"


# ---------------------------------------------------------------- through the command line
@pytest.fixture(scope="module")
def rank_run(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("rankgan")
    recipe = {
        "name": "tiny_rankgan", "game": "text", "seed": 3, "data": ORACLE, "model": TINY,
        "train": {"pretrain_steps": 10, "pretrain_d_steps": 4, "steps": 8, "n_critic": 2, "batch_size": BATCH,
                  "log_every": 2, "checkpoint_every": 16, "ema_decay": 0.9, "progress": False},
        "optim_pretrain": {"lr": 1.0e-2}, "optim_g": {"lr": 1.0e-2}, "optim_d": {"lr": 1.0e-3},
        "eval": {"every": 10, "every_adversarial": 4, "metric": "nll_oracle", "mode": "min"},
    }
    path, out = tmp / "tiny_rankgan.yaml", tmp / "run"
    path.write_text(json.dumps(recipe))
    assert main(["train", str(path), "--out", str(out)]) == 0
    return path, out


def test_a_run_logs_the_ranker_and_the_rewards(rank_run):
    _, out = rank_run
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    adversarial = [r for r in records if r["step"] > 14]
    assert adversarial and all({"d_loss", "d_real", "d_fake", "g_loss", "reward_mean"} <= set(r)
                               for r in adversarial if "g_loss" in r)
    assert 0 < adversarial[-1]["reward_mean"] < 1 and "nll_oracle" in records[-1]
    assert all(math.isfinite(r["d_train_slice"]) for r in adversarial)


def test_sigkill_then_resume_equals_an_uninterrupted_rankgan_run(tmp_path: Path, rank_run):
    recipe, straight = rank_run
    # the first checkpoint is at adversarial step 2: the reference stream is resumed mid-way
    assert_resumes_like(recipe, straight, tmp_path / "killed", 22, "nll_oracle")


def test_the_doctor_reads_a_rankgan_run(rank_run, capsys):
    _, out = rank_run
    capsys.readouterr()
    assert main(["doctor", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "findings" in report
