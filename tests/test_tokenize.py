import json

import pytest
import torch

from textgan.errors import UserError
from textgan.text import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    SubwordTokenizer,
    Vocabulary,
    WhitespaceTokenizer,
    WordTokenizer,
    build_tokenizer,
    load_tokenizer,
)

torch.set_num_threads(1)

LINES = [
    "A man riding a bike down the street.",
    "Two dogs play in the park, happily!",
    'She said "hello" to the man\'s dog.',
    "a plate of food with broccoli and rice .",
    "The cat isn't on the mat; it's (probably) asleep.",
] * 4
UNSEEN = ["A zebra can't ride bikes, can it?", "naïve café owners"]


def test_vocabulary_orders_by_frequency_with_specials_first():
    vocab = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"], ["<unk>", "d"]])
    assert vocab.itos == [*SPECIALS, "b", "a", "c", "d"]
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert Vocabulary.build([["b", "a", "b"], ["c", "a"]], min_freq=2).itos == [*SPECIALS, "a", "b"]
    assert len(Vocabulary.build([["b", "a", "b"], ["c"]], max_size=5)) == 5
    with pytest.raises(UserError, match="max_size"):
        Vocabulary.build([["a"]], max_size=4)


def test_vocabulary_encode_decode():
    vocab = Vocabulary.build([["the", "dog"], ["the", "cat"]])
    ids = vocab.encode(["the", "zebra", "dog"])
    assert ids == [vocab.stoi["the"], UNK, vocab.stoi["dog"]]
    assert vocab.decode([BOS, *ids, EOS, vocab.stoi["cat"], PAD]) == ["the", "<unk>", "dog"]


def test_vocabulary_save_load_and_fingerprint(tmp_path):
    vocab = Vocabulary.build([["ünï", "code"], ["code"]])
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert loaded.itos == vocab.itos and loaded.fingerprint() == vocab.fingerprint()
    other = Vocabulary([*SPECIALS, "ünï", "code"])  # same tokens, other ids
    assert other.fingerprint() != vocab.fingerprint()
    vocab.check_fingerprint(loaded.fingerprint(), "checkpoint")
    with pytest.raises(UserError, match="vocabulary mismatch"):
        vocab.check_fingerprint(other.fingerprint(), "checkpoint")
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temporary file left


def test_vocabulary_load_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Vocabulary.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot read"):
        Vocabulary.load(tmp_path / "bad.json")
    Vocabulary.build([["a", "b"]]).save(tmp_path / "v.json")
    data = json.loads((tmp_path / "v.json").read_text())
    data["tokens"].append("c")
    (tmp_path / "v.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="fingerprint"):
        Vocabulary.load(tmp_path / "v.json")


def assert_token_round_trip(tok, lines):
    """Detokenised text tokenises back to the same tokens."""
    for line in lines:
        tokens = tok.tokenize(line)
        assert tok.tokenize(tok.detokenize(tokens)) == tokens, line


def test_word_tokenizer_follows_nltk_and_round_trips():
    tok = WordTokenizer(lowercase=True)
    assert tok.tokenize("The man's bike, parked.") == ["the", "man", "'s", "bike", ",", "parked", "."]
    assert WordTokenizer().tokenize("The end")[0] == "The"
    assert tok.detokenize(tok.tokenize("a dog, a cat.")) == "a dog, a cat."
    assert_token_round_trip(tok, LINES + UNSEEN)


def test_whitespace_tokenizer_round_trips():
    tok = WhitespaceTokenizer()
    assert tok.tokenize(" 12  7 4999\t0 ") == ["12", "7", "4999", "0"]
    for line in LINES:
        assert tok.detokenize(tok.tokenize(line)) == line


def test_bpe_is_lossless():
    tok = SubwordTokenizer.train("bpe", iter(LINES), vocab_size=300)
    for line in LINES + UNSEEN:
        assert tok.detokenize(tok.tokenize(line)) == line
    assert "<unk>" not in tok.tokenize(UNSEEN[1])  # byte-level: no unknown characters


def test_wordpiece_round_trips_in_token_space():
    tok = SubwordTokenizer.train("wordpiece", iter(LINES), vocab_size=200, lowercase=True)
    assert tok.tokenize("Two DOGS") == ["two", "dogs"]
    assert (tok.detokenize(tok.tokenize("Two dogs play in the park, happily!"))
            == "two dogs play in the park, happily!")
    assert_token_round_trip(tok, LINES + UNSEEN)
    assert tok.detokenize(tok.tokenize("a zebra")) == "a <unk>"  # unknown pieces stay visible


@pytest.mark.parametrize("kind", ["word", "whitespace", "bpe", "wordpiece"])
def test_tokenizer_save_load_and_pipeline(tmp_path, kind):
    tok = build_tokenizer(kind, iter(LINES), lowercase=True, vocab_size=250)
    tok.save(tmp_path / "tok.json")
    loaded = load_tokenizer(tmp_path / "tok.json")
    assert type(loaded) is type(tok) and loaded.kind == kind
    vocab = Vocabulary.build(tok.tokenize(line) for line in LINES)
    for line in LINES + UNSEEN:
        tokens = loaded.tokenize(line)
        assert tokens == tok.tokenize(line)
        ids = vocab.encode(tokens) + [EOS, PAD]
        if UNK not in ids:
            assert vocab.decode(ids) == tokens


def test_tokenizer_errors(tmp_path):
    with pytest.raises(UserError, match="unknown tokenizer"):
        build_tokenizer("chars")
    (tmp_path / "t.json").write_text(json.dumps({"format": "textgan-tokenizer", "kind": "sentencepiece"}))
    with pytest.raises(UserError, match="unknown tokenizer kind"):
        load_tokenizer(tmp_path / "t.json")
    Vocabulary.build([["a"]]).save(tmp_path / "v.json")
    with pytest.raises(UserError, match="not a textgan-tokenizer"):
        load_tokenizer(tmp_path / "v.json")
