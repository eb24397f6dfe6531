"""A transformer generator loaded from a local pretrained directory (made here: a tiny GPT-2 and
its byte-level BPE `tokenizer.json`, no download), its embeddings cut to the corpus vocabulary."""

import json
import random
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from textgan.cli import main
from textgan.text.generators import TransformerGenerator

torch.set_num_threads(1)

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "log", "big", "small", "red"]


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))) for _ in range(n)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A GPT-2 style model directory as `save_pretrained` writes it, with its fast tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path_factory.mktemp("gpt2")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(sentences(200, 0), trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.save(str(path / "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_layer=1, n_head=2, n_embd=16, n_positions=32,
                        bos_token_id=eot, eos_token_id=eot)
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(path)
    return path


def test_embeddings_are_cut_to_the_vocabulary_and_keep_the_pretrained_rows(model_dir: Path):
    from transformers import AutoModelForCausalLM

    original = AutoModelForCausalLM.from_pretrained(model_dir).get_input_embeddings().weight.detach()
    eot = AutoModelForCausalLM.from_pretrained(model_dir).config.bos_token_id
    ids = [None, None, None, None, 17, 5, 42]  # textgan's four specials, then three corpus pieces
    g = TransformerGenerator.from_pretrained(model_dir, bos_id=1, token_ids=ids, eos_id=2)
    rows = g.model.get_input_embeddings().weight.detach()
    assert rows.shape == (7, 16) and g.vocab_size == 7
    torch.testing.assert_close(rows[4:], original[[17, 5, 42]], rtol=0, atol=0)
    torch.testing.assert_close(rows[1], original[eot], rtol=0, atol=0)  # BOS and EOS take the model's
    torch.testing.assert_close(rows[2], original[eot], rtol=0, atol=0)
    assert g(torch.tensor([[4, 5, 6]])).shape == (1, 3, 7)  # the (tied) head now scores 7 tokens
    assert g.sample(3, 5).max() < 7


def test_train_and_sample_a_pretrained_transformer_run(tmp_path: Path, model_dir: Path, capsys):
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    train.write_text("\n".join(sentences(120, 1)) + "\n")
    test.write_text("\n".join(sentences(40, 2)) + "\n")
    recipe = {
        "game": "text", "seed": 0,
        "data": {"source": "files", "train_files": [str(train)], "test_files": [str(test)],
                 "tokenizer": "pretrained", "tokenizer_path": str(model_dir), "max_len": 12, "n_eval": 20,
                 "bleu_samples": 10},
        "model": {"generator": "transformer", "pretrained": str(model_dir), "d_emb_dim": 8, "num_rep": 4,
                  "d_filter_sizes": [2, 3], "d_num_filters": [8, 8]},
        "train": {"pretrain_steps": 6, "steps": 2, "batch_size": 16, "log_every": 2, "checkpoint_every": 4,
                  "progress": False},
        "eval": {"every": 100},
    }
    path = tmp_path / "pretrained.yaml"
    path.write_text(json.dumps(recipe))
    out = tmp_path / "run"
    assert main(["train", str(path), "--out", str(out)]) == 0
    assert main(["sample", str(out), "--n", "5", "--out", str(tmp_path / "s.txt")]) == 0
    lines = (tmp_path / "s.txt").read_text().splitlines()
    assert len(lines) == 5
    assert json.loads((out / "tokenizer.json").read_text())["kind"] == "pretrained"
    vocab = json.loads((out / "vocab.json").read_text())["tokens"]
    assert len(vocab) < 300 and "Ġcat" in vocab  # the corpus's own pieces of the model's tokenizer

    capsys.readouterr()
    recipe["model"]["generator"] = "lstm"
    path.write_text(json.dumps(recipe))
    assert main(["train", str(path), "--out", str(tmp_path / "bad")]) == 2
    assert "model.pretrained loads a transformer" in capsys.readouterr().err
