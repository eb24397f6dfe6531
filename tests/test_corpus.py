from pathlib import Path

import pytest
import torch

from tests.conftest import data_or_skip
from textgan.errors import UserError
from textgan.text import (
    EOS,
    PAD,
    UNK,
    Vocabulary,
    WhitespaceTokenizer,
    encode_corpus,
    load_hf_corpus,
    read_id_file,
    read_lines,
    text_corpus,
)

torch.set_num_threads(1)



def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_read_lines_streams_files_skipping_blanks(tmp_path):
    a = write(tmp_path / "a.txt", "\ufeffa man rides\r\n\n   \nthe dog runs  \n".encode())
    b = write(tmp_path / "b.txt", b"a cat")
    assert list(read_lines([a, b])) == ["a man rides", "the dog runs", "a cat"]
    corpus = text_corpus([a, str(b)])
    assert list(corpus) == list(corpus) == ["a man rides", "the dog runs", "a cat"]  # re-iterable


def test_read_errors_name_the_problem(tmp_path):
    with pytest.raises(UserError, match="not found: .*missing.txt"):
        read_lines(tmp_path / "missing.txt")
    with pytest.raises(UserError, match="not a file"):
        text_corpus(tmp_path)
    empty = write(tmp_path / "empty.txt", b"\n  \n")
    with pytest.raises(UserError, match="empty.txt: empty corpus"):
        list(read_lines(empty))
    binary = write(tmp_path / "model.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(UserError, match="NUL bytes"):
        list(read_lines(binary))
    late_nul = write(tmp_path / "late.txt", b"word\n" * 2000 + b"bad\x00line\n")
    with pytest.raises(UserError, match="line 2001 has NUL bytes"):
        list(read_lines(late_nul))
    latin = write(tmp_path / "latin.txt", "ok\nfine\ncaf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin.txt: line 3 is not valid UTF-8 \(byte 0xe9 at column 4\)"):
        list(read_lines(latin))


def encode(lines, max_len, policy="truncate", **kw):
    tok = WhitespaceTokenizer()
    vocab = Vocabulary.build(tok.tokenize(line) for line in ["a b c d", "a b"])
    return vocab, encode_corpus(lines, tok, vocab, max_len, policy, **kw)


def test_rows_are_tokens_eos_pad_without_bos():
    vocab, (data, stats) = encode(["a b", "d z c"], max_len=4)
    a, b, c, d = (vocab.stoi[t] for t in "abcd")
    assert data.dtype == torch.long
    assert data.tolist() == [[a, b, EOS, PAD, PAD], [d, UNK, c, EOS, PAD]]
    assert (stats.sentences, stats.tokens, stats.unknown, stats.longest) == (2, 5, 1, 3)


@pytest.mark.parametrize("policy, rows, truncated, dropped", [("truncate", 3, 1, 0), ("drop", 2, 0, 1)])
def test_length_policies(policy, rows, truncated, dropped):
    _, (data, stats) = encode(["a", "a b c d", "b c"], max_len=2, policy=policy)
    assert data.shape == (rows, 3)
    assert (stats.truncated, stats.dropped, stats.longest) == (truncated, dropped, 4)
    assert bool(((data == EOS).sum(1) == 1).all())  # truncated rows still end with EOS
    assert str(stats.sentences) in stats.summary()


def test_length_errors(tmp_path):
    corpus = text_corpus(write(tmp_path / "c.txt", b"a\na b c\n"))
    with pytest.raises(UserError, match="c.txt: sentence 2 has 3 tokens, over max_len=2"):
        encode(corpus, max_len=2, policy="error")
    with pytest.raises(UserError, match="no sentence to encode"):
        encode(["a b c"], max_len=2, policy="drop")
    with pytest.raises(UserError, match="length policy"):
        encode(["a"], max_len=2, policy="cut")


def test_encoding_streams_into_a_memory_mapped_file(tmp_path):
    lines = ["a b c d z"[: 2 * (i % 5) + 1] for i in range(23)]
    _, (in_memory, _) = encode(lines, max_len=4)
    out = tmp_path / "cache" / "train.ids"
    _, (mapped, stats) = encode(lines, max_len=4, out=out, chunk=5)
    assert torch.equal(mapped, in_memory) and stats.sentences == 23 and stats.truncated == 4
    assert out.stat().st_size == 23 * 5 * 8
    assert [p.name for p in out.parent.iterdir()] == ["train.ids"]
    with pytest.raises(UserError):
        encode(["a b c"], max_len=2, policy="error", out=tmp_path / "cache" / "bad.ids")
    assert not (tmp_path / "cache" / "bad.ids").exists()  # never a half-written file
    assert [p.name for p in out.parent.iterdir()] == ["train.ids"]


def test_read_id_file(tmp_path):
    ids = read_id_file(write(tmp_path / "ids.txt", b"0 4 2\n\n3 1 4\n"))
    assert ids.tolist() == [[0, 4, 2], [3, 1, 4]] and ids.dtype == torch.long
    with pytest.raises(UserError, match="sequence 2 has 2 ids, the first has 3"):
        read_id_file(write(tmp_path / "ragged.txt", b"0 4 2\n3 1\n"))
    with pytest.raises(UserError, match="sequence 1 is not a list of integer ids"):
        read_id_file(write(tmp_path / "words.txt", b"a b c\n"))
    with pytest.raises(UserError, match=r"outside \[0, 4\)"):
        read_id_file(tmp_path / "ids.txt", vocab_size=4)


def test_read_the_length_40_oracle_data():
    assert read_id_file(data_or_skip("oracle-len40", "train"), vocab_size=5000).shape == (9984, 40)


def test_datasets_corpus_from_local_files(tmp_path):
    import datasets

    text = write(tmp_path / "corpus.txt", b"a man rides\n\nthe dog runs\n")
    want = ["a man rides", "the dog runs"]
    assert list(load_hf_corpus(str(text), streaming=True)) == want
    assert list(load_hf_corpus(str(text), cache_dir=str(tmp_path / "hf"))) == want
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"sentence": want, "id": [1, 2]}).save_to_disk(str(saved))
    corpus = load_hf_corpus(str(saved), column="sentence")
    assert list(corpus) == list(corpus) == want
    with pytest.raises(UserError, match="no column 'text'; columns: sentence, id"):
        load_hf_corpus(str(saved))
    with pytest.raises(UserError, match="cannot load dataset"):
        load_hf_corpus(str(tmp_path / "nothing-here"))
