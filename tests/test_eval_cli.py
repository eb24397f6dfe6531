"""`textgan eval` through the command line: the table, --json, protocol subsets, and one `error:` line
(exit 2) for every kind of bad input."""

import json
import math
import random
import subprocess
import sys

import pytest

from textgan.cli import main
from textgan.metrics import bleu_multi, distinct_n, self_bleu_multi, self_bleu_scores

WORDS = ["a", "man", "woman", "dog", "cat", "sits", "rides", "on", "the", "bench", "street", "with", "red",
         "blue", "small"]


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(n)]


@pytest.fixture()
def files(tmp_path):
    paths = {}
    for name, seed, n in (("samples", 1, 240), ("references", 2, 300), ("train", 3, 100)):
        paths[name] = tmp_path / f"{name}.txt"
        paths[name].write_text("\n".join(sentences(n, seed)) + "\n", encoding="utf-8")
    return paths


def run_json(capsys, *args: str) -> dict:
    assert main(["eval", *args, "--json"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1])


def test_table_names_the_protocol_and_every_metric(files, capsys):
    args = ["eval", "--samples", str(files["samples"]), "--references", str(files["references"]),
            "--train", str(files["train"]), "--metrics",
            "bleu,self_bleu,distinct,entropy,unique_ratio,novelty,length"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "protocol texygen: BLEU of all 240 samples against all 300 references" in out
    for name in ("bleu_2", "bleu_5", "self_bleu_2", "self_bleu_5", "distinct_1", "distinct_4", "entropy_2",
                 "unique_ratio", "novelty", "length_mean", "length_max"):
        assert f"\n{name} " in out


def test_json_values_equal_the_library_on_the_full_protocol(files, capsys):
    result = run_json(capsys, "--samples", str(files["samples"]), "--references", str(files["references"]),
                      "--metrics", "bleu,self_bleu,distinct_2,length")
    hyps = [s.split() for s in files["samples"].read_text().splitlines()]
    refs = [s.split() for s in files["references"].read_text().splitlines()]
    assert [k for k in result] == ["bleu_2", "bleu_3", "bleu_4", "bleu_5", "self_bleu_2", "self_bleu_3",
                                   "self_bleu_4", "self_bleu_5", "distinct_2", "length_mean", "length_std",
                                   "length_min", "length_max"]
    for n, v in bleu_multi(hyps, refs).items():
        assert result[f"bleu_{n}"] == v
    for n, v in self_bleu_multi(hyps).items():
        assert result[f"self_bleu_{n}"] == v
    assert result["distinct_2"] == distinct_n(hyps, 2)
    assert "novelty" not in run_json(capsys, "--samples", str(files["samples"]),
                                     "--references", str(files["references"]), "--metrics", "bleu_2")


def test_anchor_protocols_score_the_first_200_samples(files, capsys):
    hyps = [s.split() for s in files["samples"].read_text().splitlines()]
    refs = [s.split() for s in files["references"].read_text().splitlines()]
    common = ["--samples", str(files["samples"]), "--references", str(files["references"]),
              "--metrics", "bleu_3,self_bleu_3"]
    relgan = run_json(capsys, *common, "--protocol", "relgan")
    assert relgan["bleu_3"] == bleu_multi(hyps[:200], refs, (3,))[3]
    assert relgan["self_bleu_3"] == pytest.approx(math.fsum(self_bleu_scores(hyps, 3)[:200]) / 200, abs=1e-15)
    textgan_pytorch = run_json(capsys, *common, "--protocol", "textgan-pytorch")
    assert textgan_pytorch["bleu_3"] == relgan["bleu_3"]
    assert textgan_pytorch["self_bleu_3"] == bleu_multi(hyps[:200], hyps[200:], (3,))[3]


def write(path, data: bytes):
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(("make_samples", "extra", "message"), [
    (lambda d: str(d / "missing.txt"), [], "not found"),
    (lambda d: write(d / "empty.txt", b"\n  \n"), [], "empty"),
    (lambda d: write(d / "latin1.txt", "un café noir\n".encode("latin-1")), [], "not valid UTF-8"),
    (lambda d: write(d / "utf16.txt", "a man\n".encode("utf-16")), [], "NUL bytes"),
    (lambda d: write(d / "ids.txt", b"12 7 33\n4 5 6\n"), [], "share no token (one holds token ids"),
    (lambda d: str(d), [], "is a folder"),
    (lambda d: write(d / "one.txt", b"a man\n"), [], "at least 2 samples"),
    (None, ["--metrics", "bleu_9"], "unknown metric"),
    (None, ["--metrics", "novelty"], "needs the training sentences"),
    (None, ["--metrics", "fed", "--encoder", "/nonexistent/encoder"], "no encoder at"),
])
def test_bad_input_is_one_error_line(files, tmp_path, capsys, make_samples, extra, message):
    samples = make_samples(tmp_path) if make_samples else str(files["samples"])
    assert main(["eval", "--samples", samples, "--references", str(files["references"]), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_textgan_pytorch_needs_more_samples_than_it_scores(files, tmp_path, capsys):
    few = write(tmp_path / "few.txt", "\n".join(sentences(150, 5)).encode())
    args = ["eval", "--samples", few, "--references", str(files["references"]),
            "--protocol", "textgan-pytorch"]
    assert main([*args, "--metrics", "self_bleu_2"]) == 2
    assert "more than 150 samples" in capsys.readouterr().err


def test_through_a_real_subprocess(files):
    """The installed entry point too ends a user mistake with one line and exit 2, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "textgan", "eval", "--samples", "nope.txt",
                           "--references", str(files["references"])],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")


@pytest.mark.parametrize("name", ["13a", "intl"])
def test_sacrebleu_tokenisers_give_the_bleu_of_their_tokens(tmp_path, capsys, name):
    """--tokenizer 13a/intl: BLEU equals `bleu_multi` on sacrebleu's own tokens of the lower-cased lines."""
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    from sacrebleu.tokenizers.tokenizer_intl import TokenizerV14International

    rng = random.Random(5)
    pieces = WORDS + ["dog's", "(red)", "bench,", "street.", "café", "\"blue\"", "1,000"]
    lines = {k: [" ".join(rng.choice(pieces) for _ in range(rng.randint(3, 8))) for _ in range(n)]
             for k, n in (("samples", 30), ("references", 50))}
    for k, v in lines.items():
        (tmp_path / f"{k}.txt").write_text("\n".join(v) + "\n", encoding="utf-8")
    got = run_json(capsys, "--samples", str(tmp_path / "samples.txt"), "--references",
                   str(tmp_path / "references.txt"), "--metrics", "bleu", "--tokenizer", name)
    tok = Tokenizer13a() if name == "13a" else TokenizerV14International()
    split = {k: [tok(s.lower()).split() for s in v] for k, v in lines.items()}
    want = bleu_multi(split["samples"], split["references"], (2, 3, 4, 5))
    assert [got[f"bleu_{n}"] for n in (2, 3, 4, 5)] == pytest.approx(list(want.values()), abs=1e-12)
    if name == "intl":  # the international tokeniser splits the apostrophe, 13a keeps it
        assert "'" in tok("dog's").split()
