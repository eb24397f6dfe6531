"""The data of a text game: the synthetic oracle's samples, or sentences from local files or a
`datasets` corpus, tokenised and encoded into fixed-width id matrices (tokens, EOS, PAD).

Why one module: the game, `textgan sample` and the benchmarks all need the same three things from
a recipe's `data` section — the encoded train/test matrices, the id conventions (vocabulary size,
start/pad/end ids) and a way back from ids to text — and a run folder must carry what it takes to
decode its samples later (`vocab.json`, `tokenizer.json`).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from textgan.config import PATH, check_choice, check_non_negative, check_positive
from textgan.data import data_file, dataset, is_dataset_name, near_name_hint
from textgan.errors import UserError
from textgan.text.corpus import (
    LENGTH_POLICIES,
    Corpus,
    EncodeStats,
    check_encoding,
    encode_corpus,
    load_hf_corpus,
    text_corpus,
)
from textgan.text.labels import LabelledCorpora, hf_labelled_corpora, label_file_corpora
from textgan.text.oracle import Oracle, make_oracle_dataset
from textgan.text.tokenize import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    TOKENIZER_KINDS,
    Tokenizer,
    Vocabulary,
    build_tokenizer,
    load_tokenizer,
)

SOURCES = ("oracle", "files", "hf")
VOCAB_FILE, TOKENIZER_FILE = "vocab.json", "tokenizer.json"


@dataclass
class DataConfig:
    """Where sentences come from and how they become ids.

    `oracle`: `n_train` samples of length `seq_len` from `oracle`: a data set name (`seqgan-oracle`,
    see `textgan data list`), an .npz path, or `random` (the same architecture with N(0,1) weights
    from `seed` over `oracle_vocab` tokens); `n_heldout` more are the test set. `files`: `corpus`, a
    data set name that gives both (`coco`), or `train_files` (and `test_files`; without them the
    last `n_heldout` training sentences are held out). `hf`: any `datasets` corpus (`dataset`, `split`,
    `test_split`, `column`). Tokenizers: `word`, `whitespace`, `bpe`/`wordpiece` (trained on the
    corpus) or `pretrained` (the `tokenizer.json` in the model directory `tokenizer_path`, for a
    pretrained transformer generator). `vocab_size`: for `word`/`whitespace` the most frequent
    tokens kept (0: all); for `bpe`/`wordpiece` the size the tokenizer learns, counting the special
    tokens and, for `bpe`, its 256 byte symbols (so 300 leaves 40 merges; take a few thousand).
    Sentences longer than `max_len` tokens are cut (`length_policy: truncate`), left out (`drop`)
    or refused (`error`); a warning says so when more than a tenth are cut or left out. Evaluation:
    NLL_oracle on `n_eval` samples, NLL_gen on up to `n_eval_test` test rows (0: all; padding
    excluded unless `nll_legacy`), BLEU-2..5 of `bleu_samples` samples against the test set and
    their leave-one-out Self-BLEU-2..5 (0: off). Text files are read in `encoding` (MR is latin-1).

    Labelled data (the category-conditional families, `textgan.text.labels`): `label_files`, one file
    or list per category (`{neg: a.txt, pos: b.txt}`, or a data set name whose files are the
    categories, `movie-review`), or a `datasets` corpus with a `label_column`; `n_heldout` sentences
    of each category (after a shuffle seeded by `seed`) are its test set unless a test split is
    given. A CNN classifier trained for `classifier_steps` (0: none) on the labelled test sentences
    scores the generated ones (`class_accuracy`); it is cached in `cache_dir` (default: textgan's
    cache).
    """

    source: str = "oracle"
    oracle: str = field(default="seqgan-oracle", metadata=PATH)
    oracle_vocab: int = 5000
    seq_len: int = 20
    n_train: int = 10_000
    n_heldout: int = 2_000
    seed: int = 0
    corpus: str = field(default="", metadata=PATH)
    train_files: list[str] | str = field(default_factory=list, metadata=PATH)
    test_files: list[str] | str = field(default_factory=list, metadata=PATH)
    dataset: str = field(default="", metadata=PATH)
    split: str = "train"
    test_split: str = "test"
    column: str = "text"
    tokenizer: str = "word"
    tokenizer_path: str = field(default="", metadata=PATH)
    lowercase: bool = False
    vocab_size: int = 0
    min_freq: int = 1
    max_len: int = 40
    length_policy: str = "truncate"
    n_eval: int = 10_000
    n_eval_test: int = 0
    nll_legacy: bool = False
    bleu_samples: int = 200
    encoding: str = "utf-8"
    label_files: dict[str, list[str] | str] | str = field(default_factory=dict, metadata=PATH)
    label_column: str = "label"
    classifier_steps: int = 500
    cache_dir: str = field(default="", metadata=PATH)

    def validate(self) -> None:
        check_choice(self.source, SOURCES, "data.source")
        check_encoding(self.encoding)
        check_non_negative(self.classifier_steps, "data.classifier_steps")
        check_choice(self.tokenizer, TOKENIZER_KINDS, "data.tokenizer")
        check_choice(self.length_policy, LENGTH_POLICIES, "data.length_policy")
        if self.tokenizer == "pretrained" and not self.tokenizer_path:
            raise UserError("data.tokenizer is pretrained but data.tokenizer_path is empty: give the "
                            "local model directory that holds tokenizer.json")
        for key in ("oracle_vocab", "seq_len", "n_train", "n_heldout", "max_len", "n_eval", "min_freq"):
            check_positive(getattr(self, key), f"data.{key}")
        for key in ("vocab_size", "n_eval_test", "bleu_samples"):
            check_non_negative(getattr(self, key), f"data.{key}")
        if self.source != "oracle" and self.bleu_samples and min(self.bleu_samples, self.n_eval) < 2:
            raise UserError("Self-BLEU scores each of the data.bleu_samples samples against the others: set "
                            "data.bleu_samples and data.n_eval to at least 2, or bleu_samples to 0 (no BLEU)")
        if self.source == "oracle" and not self.oracle:
            raise UserError("data.oracle is empty: give a data set name (seqgan-oracle), an .npz "
                            "path, or random")
        if not isinstance(self.label_files, (dict, str)):
            raise UserError("data.label_files must map each category to its file(s), or name a data set; got "
                            f"{type(self.label_files).__name__}")
        if self.label_files and (self.source != "files" or self.corpus or _as_list(self.train_files)):
            raise UserError("data.label_files are the training files, one per category: give them with "
                            "data.source files and without data.corpus or data.train_files")
        if self.source == "files" and not self.label_files:
            if self.corpus and (_as_list(self.train_files) or _as_list(self.test_files)):
                raise UserError("data.corpus names both train and test files: give it or "
                                "data.train_files, not both")
            if self.corpus and "train" not in {f.role for f in dataset(self.corpus).files}:
                raise UserError(f"data set {self.corpus} is not a corpus with a training file "
                                "(see `textgan data list`)")
            if not self.corpus and not _as_list(self.train_files):
                raise UserError("data.source is files but neither data.corpus nor data.train_files is given")
        if self.source == "hf" and not self.dataset:
            raise UserError("data.source is hf but data.dataset is empty: give a `datasets` name "
                            "or local path")


def _as_list(value: list[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@dataclass
class TextData:
    """Encoded train/test rows (LongTensor (n, width)) and the id conventions of a text game.

    For the oracle the rows are plain oracle samples (no specials: `pad_id`/`eos_id` are None and
    the start token is the oracle's token 0); for text they are tokens, EOS, PAD.
    """

    train: Tensor
    test: Tensor
    vocab_size: int
    bos_id: int
    pad_id: int | None
    eos_id: int | None
    oracle: Oracle | None = None
    vocab: Vocabulary | None = None
    tokenizer: Tokenizer | None = None
    test_lines: Corpus | None = None  # the raw test sentences (BLEU references), when a corpus of their own
    report: str = ""
    categories: tuple[str, ...] = ()  # labelled data: the categories' names; labels index them
    train_labels: Tensor | None = None
    test_labels: Tensor | None = None

    @property
    def seq_len(self) -> int:
        return self.train.shape[1]

    def tokens(self, rows: Tensor) -> list[list[str]]:
        """Token strings of each row, up to its first EOS (ids as strings for the oracle)."""
        return row_tokens(rows, self.vocab)

    def decode(self, rows: Tensor) -> list[str]:
        """Each row as one line of text (detokenised; space-separated ids for the oracle)."""
        return decode_rows(rows, self.vocab, self.tokenizer)

    def reference_lines(self) -> list[str]:
        """The test sentences as BLEU references: the raw lines when the test set is a corpus of its
        own, else the decoded held-out rows."""
        return list(self.test_lines) if self.test_lines is not None else self.decode(self.test)

    def signature(self) -> dict[str, Any]:
        """What a resumed run must share: the vocabulary (or the oracle's weights) and the row width."""
        if self.oracle is not None:
            digest = hashlib.sha256(self.oracle.embedding.numpy().tobytes()).hexdigest()[:16]
            return {"oracle": digest, "vocab_size": self.vocab_size, "seq_len": self.seq_len}
        assert self.vocab is not None
        labelled = {"categories": list(self.categories)} if self.categories else {}
        return {"vocabulary": self.vocab.fingerprint(), "vocab_size": self.vocab_size,
                "seq_len": self.seq_len, **labelled}

    def save(self, run_dir: Path) -> None:
        """Write the vocabulary and tokeniser into the run folder (text sources only)."""
        if self.vocab is not None and self.tokenizer is not None:
            self.vocab.save(Path(run_dir) / VOCAB_FILE)
            self.tokenizer.save(Path(run_dir) / TOKENIZER_FILE)


def row_tokens(rows: Tensor, vocab: Vocabulary | None) -> list[list[str]]:
    """Token strings of each id row up to its first EOS; without a vocabulary, the ids as strings."""
    if vocab is None:
        return [[str(i) for i in row] for row in rows.tolist()]
    return [vocab.decode(row) for row in rows.tolist()]


def decode_rows(rows: Tensor, vocab: Vocabulary | None, tokenizer: Tokenizer | None) -> list[str]:
    """Each id row as one line: detokenised text, or space-separated ids without a tokeniser."""
    tokens = row_tokens(rows, vocab)
    if tokenizer is None:
        return [" ".join(t) for t in tokens]
    return [tokenizer.detokenize(t) for t in tokens]


def load_text_data(cfg: DataConfig, labelled: bool = False) -> TextData:
    """Build a recipe's data: sample the oracle, or read, tokenise and encode the corpora; with
    `labelled`, the corpora of each category (`textgan.text.labels`) with their labels."""
    if labelled:
        return _labelled_data(cfg)
    if cfg.label_files:
        raise UserError("data.label_files are read by a category-conditional family: set model.family "
                        "to sentigan or catgan, or give data.train_files")
    if cfg.source == "oracle":
        return _oracle_data(cfg)
    train_corpus, test_corpus = _corpora(cfg)
    tokenizer, vocab = _tokenizer_and_vocabulary(cfg, train_corpus)
    train, train_stats = encode_corpus(train_corpus, tokenizer, vocab, cfg.max_len, cfg.length_policy)
    _warn_if_cut(cfg, train_stats)
    if test_corpus is None:
        if len(train) <= cfg.n_heldout:
            raise UserError(f"{train_corpus.name}: {len(train)} sentences, too few to hold out "
                            f"data.n_heldout={cfg.n_heldout} for testing; give data.test_files or "
                            "lower n_heldout")
        train, test = train[: -cfg.n_heldout], train[-cfg.n_heldout :]
        test_report = f"test: the last {cfg.n_heldout} training sentences"
    else:
        test, test_stats = encode_corpus(test_corpus, tokenizer, vocab, cfg.max_len, cfg.length_policy)
        test_report = f"test {test_corpus.name}: {test_stats.summary()}"
    report = (f"data: {len(vocab)} token vocabulary ({cfg.tokenizer} tokenizer); train {train_corpus.name}: "
              f"{train_stats.summary()}; {test_report}")
    return TextData(train, test, len(vocab), BOS, PAD, EOS, vocab=vocab, tokenizer=tokenizer,
                    test_lines=test_corpus, report=report)


def _tokenizer_and_vocabulary(cfg: DataConfig, lines: Iterable[str]) -> tuple[Tokenizer, Vocabulary]:
    """The recipe's tokeniser (a subword one learnt from `lines`) and the vocabulary of `lines`; under
    `length_policy: drop`, of the lines kept (as TextGAN-PyTorch's `mr15` counts only its sentences
    of at most 15 words)."""
    learnt_from = lines if cfg.tokenizer in ("bpe", "wordpiece") else None
    tokenizer = build_tokenizer(cfg.tokenizer, learnt_from, cfg.lowercase, cfg.vocab_size or 8000,
                                Path(cfg.tokenizer_path).expanduser() if cfg.tokenizer_path else "")
    tokens = (tokenizer.tokenize(s) for s in lines)
    if cfg.length_policy == "drop":
        tokens = (t for t in tokens if len(t) <= cfg.max_len)
    return tokenizer, Vocabulary.build(tokens, cfg.vocab_size or None, cfg.min_freq)


def _labelled_data(cfg: DataConfig) -> TextData:
    """Each category's corpus encoded apart (so that dropped sentences never shift a label), the
    vocabulary from all of them; without test corpora, `n_heldout` rows of each category (after a
    shuffle seeded by `data.seed`) are held out."""
    corpora = _labelled_corpora(cfg)
    everything = Corpus(lambda: chain.from_iterable(corpora.train), "all categories")
    tokenizer, vocab = _tokenizer_and_vocabulary(cfg, everything)
    train, test, parts = [], [], []
    for c, name in enumerate(corpora.categories):
        rows, stats = encode_corpus(corpora.train[c], tokenizer, vocab, cfg.max_len, cfg.length_policy)
        _warn_if_cut(cfg, stats)
        if corpora.test is not None:
            held, _ = encode_corpus(corpora.test[c], tokenizer, vocab, cfg.max_len, cfg.length_policy)
        else:
            if len(rows) <= cfg.n_heldout:
                raise UserError(f"category {name}: {len(rows)} sentences, too few to hold out "
                                f"data.n_heldout={cfg.n_heldout} of them for testing")
            rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(cfg.seed + c))]
            rows, held = rows[: -cfg.n_heldout], rows[-cfg.n_heldout :]
        train.append(rows)
        test.append(held)
        parts.append(f"{name} {len(rows)} train / {len(held)} test")
    report = (f"data: {len(vocab)} token vocabulary ({cfg.tokenizer} tokenizer); categories: "
              f"{', '.join(parts)}; max_len {cfg.max_len} ({cfg.length_policy})")
    return TextData(torch.cat(train), torch.cat(test), len(vocab), BOS, PAD, EOS, vocab=vocab,
                    tokenizer=tokenizer, report=report, categories=tuple(corpora.categories),
                    train_labels=_labels(train), test_labels=_labels(test))


def _labels(blocks: list[Tensor]) -> Tensor:
    """The category index of each row of the concatenated per-category blocks."""
    return torch.cat([torch.full((len(b),), c, dtype=torch.long) for c, b in enumerate(blocks)])


def _labelled_corpora(cfg: DataConfig) -> LabelledCorpora:
    if cfg.label_files:
        return label_file_corpora(cfg.label_files, cfg.encoding)
    if cfg.source == "hf":
        found = hf_labelled_corpora(cfg.dataset, cfg.split, cfg.test_split, cfg.column, cfg.label_column)
        if found is None:
            raise UserError(f"dataset {cfg.dataset!r} has no label column {cfg.label_column!r}: name it in "
                            "data.label_column")
        return found
    raise UserError("a category-conditional family needs labelled data: data.label_files (one file per "
                    "category) or a `datasets` corpus with data.label_column")


def _warn_if_cut(cfg: DataConfig, stats: EncodeStats) -> None:
    """Say so on stderr when data.max_len cuts or drops more than a tenth of the training sentences."""
    cut = stats.truncated + stats.dropped
    seen = stats.sentences + stats.dropped
    if cut <= 0.1 * seen:
        return
    why = ""
    if cfg.tokenizer == "bpe" and cfg.vocab_size:
        why = (f"; a bpe vocab_size counts its 256 byte symbols and the special tokens, so {cfg.vocab_size} "
               f"leaves {max(0, cfg.vocab_size - 256 - len(SPECIALS))} merges: raise it (a few thousand)")
    print(f"warning: {cut} of {seen} training sentences are longer than data.max_len={cfg.max_len} tokens "
          f"(longest {stats.longest}) and were "
          f"{'truncated' if cfg.length_policy == 'truncate' else 'dropped'}{why}", file=sys.stderr)


def _corpora(cfg: DataConfig) -> tuple[Corpus, Corpus | None]:
    if cfg.source == "hf":
        test = load_hf_corpus(cfg.dataset, cfg.test_split, cfg.column) if cfg.test_split else None
        return load_hf_corpus(cfg.dataset, cfg.split, cfg.column), test
    if cfg.corpus:
        roles = {f.role for f in dataset(cfg.corpus).files}
        test = text_corpus([data_file(cfg.corpus, "test")], cfg.encoding) if "test" in roles else None
        return text_corpus([data_file(cfg.corpus, "train")], cfg.encoding), test
    test_files = _as_list(cfg.test_files)
    test = text_corpus([Path(p).expanduser() for p in test_files], cfg.encoding) if test_files else None
    return text_corpus([Path(p).expanduser() for p in _as_list(cfg.train_files)], cfg.encoding), test


def oracle_path(name_or_path: str) -> Path:
    """The .npz of a recipe's `data.oracle`: a data set name, else a path."""
    if is_dataset_name(name_or_path):
        return data_file(name_or_path, "oracle")
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise UserError(f"oracle weights not found: {path}{near_name_hint(name_or_path)}")
    return path


def _oracle_data(cfg: DataConfig) -> TextData:
    if cfg.oracle == "random":
        oracle = Oracle.random(cfg.oracle_vocab, cfg.seq_len, seed=cfg.seed)
    else:
        oracle = Oracle.from_npz(oracle_path(cfg.oracle), cfg.seq_len)
    train = make_oracle_dataset(oracle, cfg.n_train, cfg.seq_len, seed=cfg.seed)
    test = oracle.sample(cfg.n_heldout, cfg.seq_len, generator=torch.Generator().manual_seed(cfg.seed + 1))
    report = (f"data: oracle {'random N(0,1)' if cfg.oracle == 'random' else cfg.oracle} "
              f"(vocabulary {oracle.vocab_size}), {cfg.n_train} training and {cfg.n_heldout} test samples "
              f"of length {cfg.seq_len}")
    return TextData(train, test, oracle.vocab_size, Oracle.start_token, None, None,
                    oracle=oracle, report=report)


def load_run_vocabulary(run_dir: Path) -> tuple[Vocabulary, Tokenizer]:
    """The vocabulary and tokeniser a text run saved in its folder."""
    return Vocabulary.load(Path(run_dir) / VOCAB_FILE), load_tokenizer(Path(run_dir) / TOKENIZER_FILE)
