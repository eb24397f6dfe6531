"""LeakGAN: the worker's goal comes from D's leaked features, the manager's gradient follows D's
feature change (and only its own objective), the rescaled activation and the block rewards equal
hand computations, and a run trains, resumes bit-for-bit after SIGKILL, samples and reads in the doctor."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from runs import assert_same_weights, kill_after_first_checkpoint, run_cli

from textgan.cli import main
from textgan.config import LossConfig
from textgan.core.checkpoint import load_checkpoint
from textgan.core.objective import Objective
from textgan.core.trainer import Trainer
from textgan.errors import UserError
from textgan.games import load_recipe, recipe_from_dict
from textgan.storage import RECIPES_DIR
from textgan.text import game as text_game
from textgan.text import leakgan
from textgan.text.game import build_game
from textgan.text.signals import mc_rollout_rewards

torch.set_num_threads(1)

T, C, B = 10, 4, 6  # three blocks: tokens 0-3, 4-7, 8-9
MODEL = {"family": "leakgan", "discriminator": "seqgan", "emb_dim": 8, "hidden_dim": 8, "d_emb_dim": 8,
         "d_filter_sizes": [2, 3], "d_num_filters": [8, 8], "goal_size": 4, "step_size": C, "rollouts": 2,
         "leak_delta": 12.0, "d_dropout": 0.0}
ORACLE = {"source": "oracle", "oracle": "random", "oracle_vocab": 30, "seq_len": T, "n_train": 64,
          "n_heldout": 32, "n_eval": 40}


def leak_game(**model):
    recipe = recipe_from_dict({"game": "text", "data": ORACLE, "model": {**MODEL, **model},
                               "train": {"batch_size": 8, "steps": 4}})
    torch.manual_seed(0)
    return build_game(recipe, torch.device("cpu"))


def direct_prefix_features(game, tokens):
    """D's feature layer (its differentiable `features`, not the generator's table) of every prefix."""
    D, blank = game.discriminator, game.data.vocab_size
    rows = [torch.where(torch.arange(T) < n, tokens, blank) for n in range(T + 1)]
    with torch.no_grad():
        return torch.stack([D.eval().features(r) for r in rows], dim=1)  # (B, T+1, F)


def manager_goals_by_hand(G, features):
    """The goals from D's features alone: manager LSTM, unit goals, G_0 learned, G_j = g_{4j-3..4j}."""
    m, _ = G.manager(features[:, :-1])
    g = F.normalize(G.manager_out(m), dim=-1)
    return torch.stack([G.goal_init.expand(len(features), -1), g[:, 1:5].sum(1), g[:, 5:9].sum(1)], dim=1)


def test_the_workers_goal_comes_from_ds_leaked_features():
    game = leak_game()
    G, D = game.generator, game.discriminator
    tokens = G.sample(B, T)
    _, goals, features = G.teacher_forced(tokens)
    direct = direct_prefix_features(game, tokens)
    assert torch.allclose(features, direct, atol=1e-5)  # what G reads is D's feature layer
    assert torch.allclose(goals, manager_goals_by_hand(G, direct), atol=1e-5)
    changed = tokens.clone()
    changed[:, 4] = (changed[:, 4] + 1) % 30  # a block-1 token: goals up to block 1 are set before it
    later = G.teacher_forced(changed)[1]
    assert torch.equal(later[:, :2], goals[:, :2]) and not torch.allclose(later[:, 2], goals[:, 2])
    before = G.log_probs(tokens).detach()
    with torch.no_grad():  # another D: its features, hence the goals and the worker's tokens, move
        D.highway.transform.weight.add_(0.5 * torch.randn_like(D.highway.transform.weight))
    _, moved, moved_features = G.teacher_forced(tokens)
    assert torch.allclose(moved_features, direct_prefix_features(game, tokens), atol=1e-5)
    assert torch.equal(moved[:, 0], goals[:, 0]) and not torch.allclose(moved[:, 1:], goals[:, 1:])
    after = G.log_probs(tokens).detach()
    assert torch.equal(after[:, :C], before[:, :C])  # block 0 follows the learned G_0, not D
    assert (after[:, C:] - before[:, C:]).abs().min() > 0


def ranks_by_hand(column):
    """Rank 1 for the highest value, ties in row order."""
    order = sorted(range(len(column)), key=lambda i: (-column[i], i))
    return [order.index(i) + 1 for i in range(len(column))]


def rescale_by_hand(rewards: np.ndarray, delta: float) -> np.ndarray:
    b = rewards.shape[0]
    out = np.empty_like(rewards)
    for j in range(rewards.shape[1]):
        for i, rank in enumerate(ranks_by_hand(list(rewards[:, j]))):
            out[i, j] = 1 / (1 + math.exp(-delta * (0.5 - rank / b)))
    return out


def test_rescaled_activation_equals_a_hand_computation():
    rewards = torch.tensor([[0.2, 0.5], [0.9, 0.5], [0.5, 0.1], [0.1, 0.7]], dtype=torch.float64)
    # ranks 3, 1, 2, 4 and 2, 3, 4, 1 of 4: sigmoid(12 (0.5 - rank / 4))
    by_hand = torch.tensor([[-3.0, 0.0], [3.0, -3.0], [0.0, -6.0], [-6.0, 3.0]], dtype=torch.float64)
    by_hand = by_hand.sigmoid()
    assert torch.allclose(leakgan.rescaled_activation(rewards, 12.0), by_hand)
    random = np.random.RandomState(0).rand(64, 5)
    random[7, 2] = random[3, 2]  # a tie
    got = leakgan.rescaled_activation(torch.from_numpy(random), 16.0).numpy()
    assert np.allclose(got, rescale_by_hand(random, 16.0), rtol=0, atol=1e-12)
    scaled = leakgan.rescaled_activation(torch.from_numpy(random * 1e-3 + 5), 16.0).numpy()
    assert np.allclose(scaled, got)  # only the order counts


def test_block_rewards_come_from_rollouts_at_each_blocks_end():
    """D rewards exactly the rows with `marker` at position 2, known from the first block's end on:
    every block's reward is then sigmoid(+-10) whatever the rollouts draw."""
    game = leak_game()
    samples = game.generator.sample(B, T)
    samples[::2, 2] = 7
    q = mc_rollout_rewards(game.generator, samples, lambda x: torch.where(x[:, 2] == 7, 10.0, -10.0), 2,
                           stride=C)
    has = (samples[:, 2] == 7).float()[:, None]
    expected = torch.sigmoid(torch.tensor(10.0)) * has + torch.sigmoid(torch.tensor(-10.0)) * (1 - has)
    assert q.shape == (B, 3) and torch.allclose(q, expected.expand(-1, 3))


def test_generator_loss_equals_the_papers_objectives_by_hand(monkeypatch):
    """G's step against an independent computation (the generator stepped token by token, D's own
    feature layer, ranks by hand): the manager's gradient is -Q_j grad cos(f_end - f_start, G_j), the
    worker's is REINFORCE with the intrinsic reward, and the worker's objective never reaches the
    manager (the paper trains them separately)."""
    game = leak_game()
    G, seen = game.generator, {}
    q = torch.rand(B, 3, generator=torch.Generator().manual_seed(1))

    def rollouts(generator, samples, score, num_rollouts, stride):
        assert (num_rollouts, stride) == (2, C)
        seen["samples"] = samples.clone()
        return q

    monkeypatch.setattr(leakgan, "mc_rollout_rewards", rollouts)
    loss, logged = game.generator_loss(Objective(LossConfig("vanilla")), B)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in G.named_parameters()}
    samples = seen["samples"]
    f = direct_prefix_features(game, samples)
    manager_loss, worker_loss = hand_losses(G, samples, f, q)
    assert logged["manager_loss"] == pytest.approx(manager_loss.item(), abs=1e-6)
    assert logged["worker_loss"] == pytest.approx(worker_loss.item(), abs=1e-6)
    for part, loss_by_hand in (("manager", manager_loss), ("worker", worker_loss)):
        G.zero_grad()
        loss_by_hand.backward(retain_graph=True)
        for name, p in G.named_parameters():
            mine = name.startswith(("manager", "goal_init")) == (part == "manager")
            if mine:
                assert p.grad.abs().sum() > 0 and torch.allclose(p.grad, grads[name], atol=1e-5), name
            else:
                assert p.grad is None or not p.grad.any(), f"{part}'s objective moved {name}"


def hand_losses(G, samples, f, q):
    """The manager's and the worker's losses from the generator stepped token by token."""
    state, prev, goals, logp = G.init_state(B), G.bos(B), [], []
    for t in range(T):
        z, state = G.step_features(prev, state)
        goals.append(state[4])  # the goal token t follows
        logp.append(torch.log_softmax(G.out(z), -1).gather(1, samples[:, t : t + 1])[:, 0])
        prev = samples[:, t]
    rescaled = torch.from_numpy(rescale_by_hand(q.numpy().astype(np.float64), 12.0)).float()
    manager = sum(rescaled[:, j] * F.cosine_similarity(f[:, end] - f[:, start], goals[start], dim=-1)
                  for j, (start, end) in enumerate([(0, 4), (4, 8), (8, 10)]))
    intrinsic = torch.stack([F.cosine_similarity(f[:, t + 1] - f[:, t // C * C], goals[t], dim=-1)
                             for t in range(T)], dim=1).detach()
    return -manager.sum() / (3 * B), -(intrinsic * torch.stack(logp, dim=1)).mean()


def test_pretraining_logs_the_token_cross_entropy_and_trains_both_modules():
    game = leak_game()
    G, real = game.generator, game.batches.data[:8]
    game.real_batch = lambda: real
    opt = torch.optim.Adam(G.parameters(), lr=1e-2)
    first = None
    for _ in range(25):
        opt.zero_grad()
        loss = game.pretrain_loss(8)
        assert loss.item() == pytest.approx(-G.log_probs(real).mean().item(), abs=1e-5)
        loss.backward()
        assert G.manager_out.weight.grad.abs().sum() > 0 and G.out.weight.grad.abs().sum() > 0
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first - 0.3


def test_bad_leakgan_recipes_are_refused():
    with pytest.raises(UserError, match="seqgan discriminator"):
        leak_game(discriminator="relgan")
    with pytest.raises(UserError, match="step_size"):
        leak_game(step_size=T)


@pytest.mark.parametrize("name,seq_len", [("leakgan_oracle", 20), ("leakgan_oracle40", 40),
                                           ("leakgan_coco", 20)])
def test_the_bundled_recipes_are_leakgan_games(name, seq_len):
    recipe = load_recipe(RECIPES_DIR / f"{name}.yaml")
    assert recipe.model.family == "leakgan" and (recipe.model.goal_size, recipe.model.step_size) == (16, 4)
    assert recipe.train.mle_every and recipe.model.rollouts == 4
    if recipe.data.source == "oracle":
        assert recipe.data.seq_len == seq_len


def test_the_doctors_remedy_for_collapse_is_a_policy_gradients():
    config = {"model": {"family": "leakgan", "signal": "gumbel", "beta_max": 1.0},
              "optim_g": {"lr": 1e-3}, "optim_d": {"lr": 5e-5}}
    changes = text_game.doctor_changes("mode_collapse", config)
    assert [(c.key, c.new) for c in changes] == [("optim_g.lr", 5e-4), ("optim_d.lr", 2.5e-5)]
    assert text_game.doctor_changes("d_overfitting", config) == []


# ---------------------------------------------------------------- through the command line
def leak_recipe(tmp_path: Path, **train) -> Path:
    recipe = {"name": "tiny_leakgan", "game": "text", "seed": 3, "data": {**ORACLE, "seq_len": 8},
              "model": MODEL,
              "train": {"pretrain_steps": 6, "pretrain_d_steps": 2, "steps": 6, "batch_size": 8,
                        "mle_every": 2, "mle_steps": 1, "ema_decay": 0.9, "log_every": 1,
                        "checkpoint_every": 10, "progress": False, **train},
              "loss": {"name": "vanilla"},
              "eval": {"every": 7, "metric": "nll_oracle", "mode": "min"}}
    path = tmp_path / "tiny_leakgan.yaml"
    path.write_text(json.dumps(recipe))
    return path


def test_a_run_resumes_bit_for_bit_after_sigkill_samples_and_reads_in_the_doctor(tmp_path, capsys):
    recipe, straight, killed = leak_recipe(tmp_path), tmp_path / "straight", tmp_path / "killed"
    assert main(["train", str(recipe), "--out", str(straight)]) == 0
    records = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    adversarial = [r for r in records if "g_loss" in r]
    assert len(adversarial) == 6 and all("manager_loss" in r and "reward_mean" in r for r in adversarial)
    assert sum("mle_loss" in r for r in adversarial) == 3  # MLE interleaved every second iteration
    assert "nll_oracle" in records[-1]
    assert kill_after_first_checkpoint(recipe, killed) == 10  # inside adversarial training
    resumed = run_cli("train", str(recipe), "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_weights(straight, killed)
    capsys.readouterr()
    assert main(["doctor", str(straight)]) == 0
    assert main(["sample", str(straight), "--n", "5", "--out", str(tmp_path / "s.txt")]) == 0
    rows = [line.split() for line in (tmp_path / "s.txt").read_text().splitlines()]
    assert len(rows) == 5 and all(len(r) == 8 and all(0 <= int(i) < 30 for i in r) for r in rows)


def test_adversarial_training_starts_from_a_leakgan_mle_run_and_the_d_it_read(tmp_path):
    mle = tmp_path / "mle"
    assert main(["train", str(leak_recipe(tmp_path, steps=0)), "--out", str(mle)]) == 0
    saved = load_checkpoint(mle / "checkpoints" / "last.pt")
    adv_recipe = leak_recipe(tmp_path, steps=2, pretrain_d_steps=0, mle_every=0, mle_steps=0)
    recipe, cpu = load_recipe(adv_recipe, ["seed=7"]), torch.device("cpu")
    trainer = Trainer(recipe, build_game(recipe, cpu), tmp_path / "unused", cpu)
    trainer.init_generator_from(mle)
    for part in ("generator", "discriminator"):  # the goals mean nothing without the D they were learnt on
        mine = getattr(trainer.game, part).state_dict()
        assert all(torch.equal(mine[k], v) for k, v in saved[part].items()), part
    adv = tmp_path / "adv"
    assert main(["train", str(adv_recipe), "--out", str(adv),
                 "--init-from", str(mle)]) == 0
    records = [json.loads(line) for line in (adv / "metrics.jsonl").read_text().splitlines()]
    assert not any("mle_loss" in r for r in records) and sum("g_loss" in r for r in records) == 2
