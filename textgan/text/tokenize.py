"""Tokenisers (line <-> token strings) and the vocabulary (token strings <-> ids).

Every tokeniser produces strings and the `Vocabulary` alone assigns ids, so word-level, whitespace,
BPE and WordPiece corpora all meet the models the same way: PAD=0, BOS=1, EOS=2, UNK=3, then the
corpus tokens by falling frequency. Both are saved with a run as small JSON files.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

from textgan.errors import UserError
from textgan.storage import atomic_write_text

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
TOKENIZER_KINDS = ("word", "whitespace", "bpe", "wordpiece", "pretrained")


def _write_json(path: str | Path, obj: dict[str, Any]) -> None:
    atomic_write_text(Path(path), json.dumps(obj, ensure_ascii=False) + "\n")


def _read_json(path: str | Path, fmt: str) -> dict[str, Any]:
    """Read a JSON file written by `_write_json` with `{"format": fmt}`; user mistakes -> UserError."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise UserError(f"{path} is not a {fmt} file")
    return data


class Vocabulary:
    """Token string <-> id, with the four specials first."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[:4]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}, got {list(tokens[:4])}")
        self.itos = list(tokens)
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary tokens are not unique")

    @classmethod
    def from_counts(cls, counts: Mapping[str, int],
                    max_size: int | None = None, min_freq: int = 1) -> Vocabulary:
        """Keep tokens seen at least `min_freq` times, most frequent first (ties by string), at most
        `max_size` entries in all, the specials included (so `max_size` is the model's vocab size)."""
        if max_size is not None and max_size <= len(SPECIALS):
            raise UserError(f"vocabulary max_size must exceed the {len(SPECIALS)} special tokens, "
                            f"got {max_size}")
        kept = sorted((t for t, n in counts.items() if n >= min_freq and t not in SPECIALS),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *kept])

    @classmethod
    def build(cls, sentences: Iterable[Iterable[str]], max_size: int | None = None,
              min_freq: int = 1) -> Vocabulary:
        """Count tokens over a stream of tokenised sentences (one pass) and keep the frequent ones."""
        counts: Counter[str] = Counter()
        for tokens in sentences:
            counts.update(tokens)
        return cls.from_counts(counts, max_size, min_freq)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of `tokens`; unknown tokens become UNK."""
        return [self.stoi.get(tok, UNK) for tok in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of `ids` up to the first EOS, without PAD and BOS (UNK is kept as `<unk>`)."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.itos[i])
        return out

    def fingerprint(self) -> str:
        """A stable hash of the token list: equal fingerprints mean identical id assignments."""
        return hashlib.sha256(json.dumps(self.itos, ensure_ascii=False).encode()).hexdigest()[:16]

    def check_fingerprint(self, expected: str, source: str) -> None:
        """Refuse `source` (e.g. a checkpoint) made with another vocabulary."""
        if expected != self.fingerprint():
            raise UserError(f"vocabulary mismatch: {source} was made with vocabulary {expected}, "
                            f"this one is {self.fingerprint()}")

    def save(self, path: str | Path) -> None:
        _write_json(path, {"format": "textgan-vocab", "fingerprint": self.fingerprint(), "tokens": self.itos})

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        data = _read_json(path, "textgan-vocab")
        try:
            vocab = cls(data["tokens"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{path} is not a valid vocabulary: {exc}") from None
        if data.get("fingerprint") not in (None, vocab.fingerprint()):
            raise UserError(f"{path}: vocabulary fingerprint does not match its tokens (edited by hand?)")
        return vocab


class Tokenizer:
    """One line of text <-> a list of token strings; `save` writes one JSON file (`load_tokenizer`)."""

    kind = ""

    def tokenize(self, line: str) -> list[str]:
        raise NotImplementedError

    def detokenize(self, tokens: Sequence[str]) -> str:
        raise NotImplementedError

    def _config(self) -> dict[str, Any]:
        return {}

    def save(self, path: str | Path) -> None:
        _write_json(path, {"format": "textgan-tokenizer", "kind": self.kind, **self._config()})


class WhitespaceTokenizer(Tokenizer):
    """`str.split()`: for pre-tokenised corpora and the oracle's id files."""

    kind = "whitespace"

    def tokenize(self, line: str) -> list[str]:
        return line.split()

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)


class WordTokenizer(Tokenizer):
    """nltk's Treebank-style word tokeniser (no downloaded data), optionally lower-casing first:
    the COCO/EMNLP protocol of Texygen and RelGAN (without punkt sentence splitting)."""

    kind = "word"

    def __init__(self, lowercase: bool = False) -> None:
        from nltk.tokenize import NLTKWordTokenizer  # nltk takes seconds to import: only when used
        from nltk.tokenize.treebank import TreebankWordDetokenizer

        self.lowercase = lowercase
        self._tokenizer = NLTKWordTokenizer()
        self._detokenizer = TreebankWordDetokenizer()

    def tokenize(self, line: str) -> list[str]:
        return self._tokenizer.tokenize(line.lower() if self.lowercase else line)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self._detokenizer.detokenize(list(tokens))

    def _config(self) -> dict[str, Any]:
        return {"lowercase": self.lowercase}


class SubwordTokenizer(Tokenizer):
    """A trained `tokenizers` model: byte-level BPE (lossless) or WordPiece (BERT pre-tokenisation)."""

    def __init__(self, model: HFTokenizer, kind: str) -> None:
        self.model = model
        self.kind = kind

    @classmethod
    def train(cls, kind: str, lines: Iterable[str], vocab_size: int = 8000,
              lowercase: bool = False) -> SubwordTokenizer:
        """Learn a `kind` ("bpe" | "wordpiece") vocabulary of `vocab_size` from a stream of lines."""
        norm = [normalizers.NFC()] + ([normalizers.Lowercase()] if lowercase else [])
        if kind == "bpe":
            model = HFTokenizer(models.BPE(unk_token="<unk>"))
            model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            model.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS),
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                          show_progress=False)
        elif kind == "wordpiece":
            model = HFTokenizer(models.WordPiece(unk_token="<unk>"))
            model.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            model.decoder = decoders.WordPiece(prefix="##", cleanup=True)
            trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS),
                                                show_progress=False)
        else:
            raise UserError(f"unknown subword tokenizer {kind!r}: use bpe or wordpiece")
        model.normalizer = normalizers.Sequence(norm)
        model.train_from_iterator(lines, trainer)
        return cls(model, kind)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> SubwordTokenizer:
        """The `tokenizer.json` of a local pretrained model (e.g. a GPT-2 directory): its pieces are
        the corpus tokens, so a pretrained transformer generator keeps its own embeddings for them."""
        file = Path(path) / "tokenizer.json"
        if not file.is_file():
            raise UserError(f"no tokenizer.json in {path}: data.tokenizer_path must be a local "
                            "pretrained model directory saved with its fast tokenizer")
        try:
            return cls(HFTokenizer.from_file(str(file)), "pretrained")
        except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception on a malformed file
            raise UserError(f"cannot read {file}: {exc}") from None

    def token_id(self, token: str) -> int | None:
        """The tokenizer's own id of a piece (None when it has none, e.g. textgan's specials)."""
        return self.model.token_to_id(token)

    def tokenize(self, line: str) -> list[str]:
        return self.model.encode(line, add_special_tokens=False).tokens

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Join the pieces back into text; an unknown piece shows as `<unk>`."""
        ids = [self.model.token_to_id(tok) for tok in tokens]
        return self.model.decode([i for i in ids if i is not None], skip_special_tokens=False)

    def _config(self) -> dict[str, Any]:
        return {"model": json.loads(self.model.to_str())}


def build_tokenizer(kind: str, lines: Iterable[str] | None = None, lowercase: bool = False,
                    vocab_size: int = 8000, path: str | Path = "") -> Tokenizer:
    """A tokeniser by name; "bpe" and "wordpiece" are trained on `lines` (one streamed pass),
    "pretrained" is read from the model directory `path`."""
    if kind == "pretrained":
        return SubwordTokenizer.from_pretrained(path)
    if kind == "whitespace":
        return WhitespaceTokenizer()
    if kind == "word":
        return WordTokenizer(lowercase)
    if kind in ("bpe", "wordpiece"):
        if lines is None:
            raise ValueError(f"a {kind} tokenizer must be trained: pass the corpus lines")
        return SubwordTokenizer.train(kind, lines, vocab_size, lowercase)
    raise UserError(f"unknown tokenizer {kind!r}: choose one of {', '.join(TOKENIZER_KINDS)}")


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokeniser written by `Tokenizer.save`."""
    data = _read_json(path, "textgan-tokenizer")
    kind = data.get("kind")
    if kind == "whitespace":
        return WhitespaceTokenizer()
    if kind == "word":
        return WordTokenizer(bool(data.get("lowercase", False)))
    if kind in ("bpe", "wordpiece", "pretrained"):
        return SubwordTokenizer(HFTokenizer.from_str(json.dumps(data["model"])), kind)
    raise UserError(f"{path}: unknown tokenizer kind {kind!r}")
