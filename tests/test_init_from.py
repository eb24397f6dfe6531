"""`textgan train --init-from`: a GAN run starts from another run's generator (and EMA), exactly those
weights, with no MLE pre-training, the source recorded in config.yaml; another vocabulary, sequence
length or generator shape is refused with one `error:` line."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from textgan.cli import main
from textgan.core.checkpoint import load_checkpoint
from textgan.core.trainer import Trainer
from textgan.games import build_game, load_recipe

torch.set_num_threads(1)

TINY = """\
name: tiny_text
game: text
seed: 2
data: {source: oracle, oracle: random, oracle_vocab: 30, seq_len: 6, n_train: 64, n_heldout: 32, n_eval: 40}
model: {generator: lstm, emb_dim: 8, hidden_dim: 8, discriminator: relgan, d_emb_dim: 8, num_rep: 4,
        d_filter_sizes: [2, 3], d_num_filters: [8, 8], signal: gumbel, beta_max: 10}
train: {pretrain_steps: 6, steps: 3, batch_size: 8, ema_decay: 0.5, log_every: 1, checkpoint_every: 3, progress: false}
loss: {name: rsgan}
eval: {every: 3}
"""  # noqa: E501 - YAML text, kept byte for byte


@pytest.fixture(scope="module")
def source_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("init")
    (folder / "tiny.yaml").write_text(TINY)
    assert main(["train", str(folder / "tiny.yaml"), "--out", str(folder / "mle"),
                 "--set", "train.steps=0"]) == 0
    return folder


def test_init_from_loads_exactly_the_saved_generator_and_ema(source_run):
    saved = load_checkpoint(source_run / "mle" / "checkpoints" / "last.pt")
    recipe = load_recipe(source_run / "tiny.yaml", ["seed=7"])  # another seed: fresh weights differ
    trainer = Trainer(recipe, build_game(recipe, torch.device("cpu")),
                      source_run / "unused", torch.device("cpu"))
    assert not torch.equal(trainer.game.generator.state_dict()["embedding.weight"],
                           saved["generator"]["embedding.weight"])
    assert trainer.init_generator_from(source_run / "mle") == 6
    for key, value in trainer.game.generator.state_dict().items():
        assert torch.equal(value, saved["generator"][key]), key
    for key, value in trainer.ema.state_dict().items():
        assert torch.equal(value, saved["ema"][key]), key
    # EMA is its own
    assert not all(torch.equal(saved["ema"][k], saved["generator"][k]) for k in saved["ema"])


def test_a_run_from_another_skips_mle_and_records_the_source(source_run, capsys):
    out = source_run / "gan"
    assert main(["train", str(source_run / "tiny.yaml"), "--out", str(out), "--init-from",
                 str(source_run / "mle")]) == 0
    captured = capsys.readouterr()
    assert "no MLE pre-training" in captured.err
    # the start is evaluated and logged as step 0
    assert "before adversarial training (step 0)" in captured.out
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["train"]["init_from"] == str((source_run / "mle").resolve())
    assert config["train"]["pretrain_steps"] == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2, 3] and not any("mle_loss" in r for r in records)
    assert "nll_oracle" in records[0] and all("g_loss" in r for r in records[1:])


@pytest.mark.parametrize("overrides,message", [
    (["data.oracle_vocab=31"], "vocab_size is 30 in the checkpoint but 31 now"),
    (["data.seq_len=7"], "seq_len is 6 in the checkpoint but 7 now"),
    (["model.hidden_dim=9"], "has shape"),
    (["model.generator=rmc"], "another generator"),
    (["game=toy"], "another game"),
])
def test_another_vocabulary_length_or_generator_is_refused(source_run, capsys, overrides, message):
    sets = [a for o in overrides for a in ("--set", o)]
    if overrides == ["game=toy"]:
        sets = []
        args = ["train", "toy_ring", "--init-from", str(source_run / "mle")]
    else:
        args = ["train", str(source_run / "tiny.yaml"), "--init-from", str(source_run / "mle"), *sets]
    assert main([*args, "--out", str(source_run / f"bad-{len(overrides[0])}-{overrides[0][:8]}")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("error", "Traceback"))]
    assert len(err) == 1 and err[0].startswith("error: --init-from") and message in err[0], err


def test_init_from_a_missing_run_or_with_resume_is_one_error_line(source_run, tmp_path, capsys):
    assert main(["train", str(source_run / "tiny.yaml"), "--out", str(tmp_path / "a"),
                 "--init-from", str(tmp_path / "nowhere")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["train", str(source_run / "tiny.yaml"), "--out", str(tmp_path / "a"), "--resume",
                 "--init-from", str(source_run / "mle")]) == 2
    assert "give one of them" in capsys.readouterr().err


def test_resuming_a_run_started_from_another_continues_without_mle(source_run, capsys):
    """`--resume` alone (the source not repeated) keeps the run's layout: no MLE phase appears."""
    out = source_run / "gan-resumed"
    recipe = str(source_run / "tiny.yaml")
    assert main(["train", recipe, "--out", str(out), "--init-from", str(source_run / "mle")]) == 0
    assert main(["train", recipe, "--out", str(out), "--resume", "--set", "train.steps=5"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4, 5] and not any("mle_loss" in r for r in records)
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["init_from"]


def test_resuming_with_other_phase_lengths_is_refused(source_run, capsys):
    out = source_run / "mle"
    before = (out / "checkpoints" / "last.pt").read_bytes()
    assert main(["train", str(source_run / "tiny.yaml"), "--out", str(out), "--resume",
                 "--set", "train.steps=0", "--set", "train.pretrain_steps=9"]) == 2
    assert "phases.pretrain_steps is 6 in the checkpoint but 9 now" in capsys.readouterr().err
    assert (out / "checkpoints" / "last.pt").read_bytes() == before
