"""The text games on the trainer core: Gumbel gradients, policy-gradient reward placement, MLE
pre-training, resume after SIGKILL, `textgan sample`, and bad input through the command line."""

import json
import random
from pathlib import Path

import pytest
import torch
from runs import assert_same_weights, kill_and_resume

from textgan.cli import main
from textgan.config import LossConfig, OptimConfig
from textgan.core.objective import Objective
from textgan.core.steps import Optimised, Players, d_step
from textgan.evaluate import GROUPS, evaluate_text
from textgan.games import load_recipe, recipe_from_dict
from textgan.text import game as text_game
from textgan.text.game import build_game
from textgan.text.tokenize import WordTokenizer

torch.set_num_threads(1)

TINY_MODEL = {"emb_dim": 8, "hidden_dim": 8, "d_emb_dim": 8, "num_rep": 4,
              "d_filter_sizes": [2, 3], "d_num_filters": [8, 8]}
ORACLE = {"source": "oracle", "oracle": "random", "oracle_vocab": 30, "seq_len": 6, "n_train": 64,
          "n_heldout": 32, "n_eval": 40}


def oracle_game(signal_name: str, **model):
    recipe = recipe_from_dict({"game": "text", "data": ORACLE,
                               "model": {**TINY_MODEL, "signal": signal_name, **model},
                               "train": {"batch_size": 8, "steps": 4}})
    return build_game(recipe, torch.device("cpu"))


def test_gumbel_gradients_flow_through_d_into_the_generator():
    game = oracle_game("gumbel", beta_max=10)
    game.on_step(3, 4)
    assert 1 < game.beta <= 10
    loss, _ = game.generator_loss(Objective(LossConfig("rsgan")), 8)
    loss.backward()
    for name, p in game.generator.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    fake = game.fake_batch(8)
    assert fake.shape == (8, 6, 30) and torch.allclose(fake.sum(-1), torch.ones(8, 6))


def test_pg_rewards_land_on_the_right_sample_and_position(monkeypatch):
    """D rewards exactly the samples whose token at position 2 is `marker`: from position 2 on, a
    sample's reward is then known (sigmoid(+-10)) whatever the rollouts draw; before it, it is not."""
    game = oracle_game("pg", discriminator="seqgan")
    marker = 5

    def scorer():
        return lambda tokens: torch.where(tokens[:, 2] == marker, 10.0, -10.0)

    seen = {}
    real_rollouts = text_game.mc_rollout_rewards

    def spy(generator, samples, score, num_rollouts):
        samples[::2, 2] = marker  # half the samples carry the marker (G's log-probs then score these too)
        seen["samples"], seen["rewards"] = samples, real_rollouts(generator, samples, score, num_rollouts)
        return seen["rewards"]

    monkeypatch.setattr(game, "_scorer", scorer)
    monkeypatch.setattr(text_game, "mc_rollout_rewards", spy)
    loss, logged = game.generator_loss(Objective(LossConfig("vanilla")), 8)
    loss.backward()
    samples, rewards = seen["samples"], seen["rewards"]
    assert rewards.shape == samples.shape == (8, 6)
    has = (samples[:, 2] == marker).float()[:, None]
    expected = torch.sigmoid(torch.tensor(10.0)) * has + torch.sigmoid(torch.tensor(-10.0)) * (1 - has)
    assert torch.allclose(rewards[:, 2:], expected.expand(-1, 4))
    assert 0 < logged["reward_mean"] < 1
    assert game.generator.out.weight.grad.abs().sum() > 0


def test_maligan_rewards_are_per_sequence():
    game = oracle_game("pg", pg_reward="maligan")
    loss, logged = game.generator_loss(Objective(LossConfig("vanilla")), 8)
    assert torch.isfinite(loss) and abs(logged["reward_mean"]) < 1e-6  # normalised weights minus 1/B


def test_pretrain_loss_is_cross_entropy_and_learns():
    game = oracle_game("gumbel")
    opt = torch.optim.Adam(game.generator.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = game.pretrain_loss(8)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert first == pytest.approx(torch.log(torch.tensor(30.0)).item(), abs=0.3) and loss.item() < first


# ---------------------------------------------------------------- through the command line
WORDS = ["a", "the", "one", "red", "big", "small", "cat", "dog", "man", "bird", "sits", "runs", "eats",
         "sees", "near", "on", "under", "tree"]


def write_corpus(path: Path, n: int, seed: int, words: list[str] = WORDS) -> Path:
    rng = random.Random(seed)
    path.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(2, 7))) + "\n"
                            for _ in range(n)))
    return path


def text_recipe(tmp_path: Path, steps: int = 20, **data) -> Path:
    train = write_corpus(tmp_path / "train.txt", 300, 1)
    test = write_corpus(tmp_path / "test.txt", 60, 2)
    recipe = {
        "name": "tiny_text", "game": "text", "seed": 4,
        "data": {"source": "files", "train_files": [str(train)], "test_files": [str(test)],
                 "tokenizer": "whitespace", "max_len": 8, "n_eval": 40, "bleu_samples": 20, **data},
        "model": {**TINY_MODEL, "signal": "gumbel", "beta_max": 5},
        "train": {"pretrain_steps": 20, "pretrain_d_steps": 5, "steps": steps, "batch_size": 16,
                  "ema_decay": 0.9, "log_every": 5, "checkpoint_every": 5, "progress": False},
        "loss": {"name": "rsgan"},
        "optim_pretrain": {"lr": 1.0e-2},
        "eval": {"every": 20, "metric": "nll_gen", "mode": "min"},
    }
    path = tmp_path / "tiny_text.yaml"
    path.write_text(json.dumps(recipe))  # JSON is YAML
    return path


def error_line(capsys, *args: str) -> str:
    """Run `textgan ARGS` in this process (torch is imported already: much faster than a subprocess)
    and return its one `error:` line; exit status 2 expected."""
    capsys.readouterr()
    assert main(list(args)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: ") and sum(line.startswith("error:") for line in lines) == 1, lines
    return lines[-1]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("text")
    recipe, out = text_recipe(tmp), tmp / "run"
    assert main(["train", str(recipe), "--out", str(out)]) == 0
    return recipe, out


def test_text_run_writes_metrics_vocabulary_and_samples(text_run, capsys):
    _, out = text_run
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "mle_loss" in records[0] and "g_loss" in records[-1] and "beta" in records[-1]
    evaluated = {r["step"] for r in records if "nll_gen" in r}
    assert evaluated == {20, 25, 40, 45}  # every 20 steps and at the end of each phase
    assert {"bleu_2", "bleu_5", "self_bleu_2", "self_bleu_5", "distinct_1", "distinct_4"} <= set(records[-1])
    assert (out / "vocab.json").is_file() and (out / "tokenizer.json").is_file()
    assert (out / "samples" / "step_0000045.txt").read_text().count("\n") == 40
    assert main(["sample", str(out), "--n", "7", "--out", str(out / "s.txt")]) == 0
    lines = (out / "s.txt").read_text().splitlines()
    assert len(lines) == 7 and all(set(line.split()) <= set(WORDS) | {"<unk>"} for line in lines)
    vocabulary = (out / "vocab.json").read_bytes()
    assert main(["sample", str(out), "--n", "7", "--out", str(out / "vocab.json")]) == 2
    assert "would overwrite a file of the run" in capsys.readouterr().err
    assert (out / "vocab.json").read_bytes() == vocabulary


def test_training_time_bleu_is_textgan_evals(text_run):
    """The BLEU and Self-BLEU logged while training equal `evaluate_text` (the body of `textgan eval`)
    on the first `bleu_samples` lines of that step's sample file against the test file."""
    _, out = text_run
    last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    lines = (out / "samples" / f"step_{last['step']:07d}.txt").read_text().split("\n")[:20]
    references = (out.parent / "test.txt").read_text().splitlines()
    expected = evaluate_text(lines, references, WordTokenizer(lowercase=True).tokenize,
                             metrics=GROUPS["bleu"] + GROUPS["self_bleu"])
    assert {k: last[k] for k in expected} == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_sigkill_then_resume_equals_an_uninterrupted_text_run(tmp_path: Path, text_run):
    recipe, straight = text_run
    killed = tmp_path / "killed"
    kill_and_resume(recipe, killed, 45)
    assert_same_weights(straight, killed)
    assert json.loads((killed / "summary.json").read_text())["nll_gen"] == \
        json.loads((straight / "summary.json").read_text())["nll_gen"]


def test_resume_with_another_vocabulary_is_refused(tmp_path: Path, text_run, capsys):
    recipe, out = text_run
    other = write_corpus(tmp_path / "other.txt", 300, 1, [w.upper() for w in WORDS])
    before = (out / "checkpoints" / "last.pt").read_bytes()
    line = error_line(capsys, "train", str(recipe), "--out", str(out), "--resume",
                      "--set", f"data.train_files=[{other}]")
    assert "incompatible run" in line and "vocab" in line
    assert (out / "checkpoints" / "last.pt").read_bytes() == before


@pytest.mark.parametrize("content,message", [
    (b"", "empty corpus"),
    (b"   \n\n", "empty corpus"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL bytes"),
    (b"a cat\nthe dog\ncaf\xe9 au lait\n", "line 3 is not valid UTF-8"),
])
def test_bad_corpora_exit_2_with_one_error_line(tmp_path: Path, content, message, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    line = error_line(capsys, "train", str(text_recipe(tmp_path)), "--out", str(tmp_path / "o"),
                      "--set", f"data.train_files=[{bad}]")
    assert message in line and "bad.txt" in line
    assert not (tmp_path / "o" / "metrics.jsonl").exists()


def test_lines_longer_than_the_limit(tmp_path: Path, capsys):
    recipe = text_recipe(tmp_path)
    line = error_line(capsys, "train", str(recipe), "--out", str(tmp_path / "o"),
                      "--set", "data.length_policy=error", "--set", "data.max_len=4")
    assert "over max_len=4" in line
    assert main(["train", str(recipe), "--out", str(tmp_path / "d"), "--set", "data.length_policy=drop",
                 "--set", "data.max_len=4", "--set", "train.pretrain_steps=2",
                 "--set", "train.pretrain_d_steps=0", "--set", "train.steps=0"]) == 0
    report = capsys.readouterr().err
    assert "dropped" in report and " 0 dropped" not in report.split("test")[0]


def test_text_losses_that_need_continuous_inputs_are_refused(tmp_path: Path, capsys):
    line = error_line(capsys, "train", str(text_recipe(tmp_path)), "--out", str(tmp_path / "o"),
                      "--set", "loss.r1_weight=1")
    assert "loss.r1_weight needs continuous discriminator inputs" in line


def test_the_run_reports_exactly_the_metrics_the_game_names(text_run):
    recipe, out = text_run
    game = build_game(load_recipe(recipe), torch.device("cpu"))
    last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
            if "nll_gen" in line][-1]
    assert game.metric_names() == {k for k in last
                                   if k.startswith(("nll_", "distinct_", "bleu_", "self_bleu_"))}


@pytest.mark.parametrize("overrides,hint", [(["data.bleu_samples=0"], "data.bleu_samples is 0"),
                                            (["eval.metric=nll_oracle"], "")])
def test_a_watched_metric_the_game_never_reports_is_refused_before_training(tmp_path: Path,
                                                                            capsys, overrides, hint):
    args = ["--set", "eval.metric=bleu_2", "--set", "eval.mode=max"]
    for override in overrides:
        args += ["--set", override]
    out = tmp_path / "o"
    line = error_line(capsys, "train", str(text_recipe(tmp_path)), "--out", str(out), *args)
    assert "is not computed by this game" in line and hint in line
    assert not (out / "metrics.jsonl").exists()


def test_shared_highway_reaches_the_discriminator():
    assert oracle_game("gumbel").discriminator.highway.gate is not None  # RelGAN's two matrices
    assert oracle_game("gumbel", d_shared_highway=True).discriminator.highway.gate is None


@pytest.mark.parametrize("generator", ["lstm", "rmc", "transformer"])
def test_g_init_std_draws_every_generator_parameter_from_that_normal(generator):
    """SeqGAN's initialisation: every weight and bias of G from N(0, 0.1); 0 keeps PyTorch's own."""
    params = torch.cat([p.detach().flatten()
                        for p in oracle_game("gumbel", generator=generator, g_init_std=0.1, head_size=8,
                                             n_embd=8).generator.parameters()])
    assert abs(params.mean().item()) < 0.01 and abs(params.std().item() - 0.1) < 0.005


def test_g_init_std_zero_keeps_pytorch_initialisation():
    # nn.Embedding: N(0, 1)
    assert abs(oracle_game("gumbel").generator.embedding.weight.std().item() - 1.0) < 0.1


def test_negative_g_init_std_is_refused(tmp_path: Path, capsys):
    line = error_line(capsys, "train", str(text_recipe(tmp_path)), "--out", str(tmp_path / "o"),
                      "--set", "model.g_init_std=-1")
    assert "model.g_init_std must be >= 0" in line


def test_temperature_horizon_stretches_beta_as_relgans_code_does():
    """RelGAN's code uses N = 5000 whatever the run's length: a 3,000-step run ends at 100^(2999/5000)."""
    game = oracle_game("gumbel", beta_max=100, temperature_horizon=5000)
    game.on_step(3000, 3000)
    assert game.beta == pytest.approx(100 ** (2999 / 5000))
    default = oracle_game("gumbel", beta_max=100)
    default.on_step(3000, 3000)
    assert default.beta == pytest.approx(100 ** (2999 / 3000))


def test_relgan_initialisation_of_the_discriminator():
    from textgan.text.discriminators import RelGANDiscriminator, init_like_relgan

    torch.manual_seed(0)
    d = RelGANDiscriminator(5000, 20, emb_dim=64, num_rep=64, filter_sizes=(2, 3), num_filters=(300, 300))
    init_like_relgan(d)
    std = 5000**-0.5
    assert d.embedding.weight.abs().max() <= 2 * std + 1e-9
    truncated_normal_std = std * 0.8796  # the std of N(0, 1) cut at +-2
    assert d.embedding.weight.std().item() == pytest.approx(truncated_normal_std, rel=0.02)
    conv = d.convs[1]  # filter 3 x 1 over one input channel: fan-in 3
    assert conv.weight.std().item() == pytest.approx((2 / 3) ** 0.5 * 0.8796, rel=0.05)
    assert d.fc.weight.std().item() == pytest.approx(600**-0.5 * 0.8796, rel=0.02)
    assert all(not m.bias.detach().any() for m in (d.fc, d.out, conv))


def test_interleaved_mle_steps_run_every_mle_every_adversarial_iterations(tmp_path: Path):
    recipe, out = text_recipe(tmp_path, steps=6), tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(out), "--set", "train.mle_every=3",
                 "--set", "train.mle_steps=2", "--set", "train.log_every=1"]) == 0
    start = 20 + 5
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    with_mle = sorted(r["step"] - start for r in records if r["step"] > start and "mle_loss" in r)
    assert with_mle == [3, 6]


def test_interleaving_without_mle_steps_is_refused(tmp_path: Path, capsys):
    line = error_line(capsys, "train", str(text_recipe(tmp_path)), "--out", str(tmp_path / "r"),
                      "--set", "train.mle_every=3")
    assert "train.mle_steps" in line


def test_the_game_forms_the_discriminator_loss(monkeypatch):
    game = oracle_game("gumbel")
    calls = []
    default = type(game).discriminator_loss

    def spy(self, objective, real, fake):
        calls.append((real.shape, fake.shape))
        return default(self, objective, real, fake)

    monkeypatch.setattr(type(game), "discriminator_loss", spy)
    cfg = OptimConfig()
    opt_d = torch.optim.Adam(game.discriminator.parameters(), lr=1e-3)
    opt_g = torch.optim.Adam(game.generator.parameters(), lr=1e-3)
    constant = lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1.0)
    players = Players(game, Objective(LossConfig(name="rsgan")), Optimised(opt_g, constant(opt_g), cfg),
                      Optimised(opt_d, constant(opt_d), cfg), Optimised(opt_g, constant(opt_g), cfg), 8)
    stats = d_step(players, 1)
    assert len(calls) == 1 and calls[0][0][0] == 8 and "d_loss" in stats
