"""Sentence corpora: local text files, `datasets` corpora and token-id files, streamed line by line.

A corpus larger than memory works because nothing here holds the text: a `Corpus` is re-iterable
(each pass re-reads its source), so the usual preparation is
    pass 1  train a subword tokeniser / count tokens     `Vocabulary.build(tok.tokenize(s) for s in corpus)`
    pass 2  encode into a padded id matrix on disk       `encode_corpus(corpus, tok, vocab, max_len, out=...)`
and the encoded matrix is a memory-mapped file that the trainer indexes batch by batch.

Row layout of an encoded corpus (width max_len + 1): the sentence's tokens, EOS, then PAD.
BOS is not stored: a generator prepends it as its first input.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from textgan.errors import UserError
from textgan.storage import is_saved_dataset, load_saved_dataset
from textgan.text.tokenize import EOS, PAD, UNK, Tokenizer, Vocabulary

LENGTH_POLICIES = ("truncate", "drop", "error")
PathLike = str | os.PathLike


class Corpus:
    """A re-iterable stream of sentences: every `iter()` starts a fresh pass over the source."""

    def __init__(self, open_stream: Callable[[], Iterator[str]], name: str) -> None:
        self._open_stream = open_stream
        self.name = name

    def __iter__(self) -> Iterator[str]:
        return self._open_stream()

    def __repr__(self) -> str:
        return f"Corpus({self.name})"


def _check_files(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    paths = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not paths:
        raise UserError("no corpus file given")
    for path in paths:
        if not path.exists():
            raise UserError(f"corpus file not found: {path}")
        if not path.is_file():
            raise UserError(f"corpus path is not a file: {path}")
    return paths


def check_encoding(encoding: str, key: str = "data.encoding") -> str:
    """The codec's display name (`UTF-8`, `latin-1`, ...), or UserError for an unknown one or one that
    is not read line by line as bytes (UTF-16/32: their newlines are not the byte 0x0a)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise UserError(f"{key}: unknown text encoding {encoding!r} (e.g. utf-8, latin-1, cp1252)") from None
    if name.startswith(("utf-16", "utf-32")):
        raise UserError(f"{key}: {encoding} files are not read line by line; re-encode the corpus as UTF-8")
    return "UTF-8" if name == "utf-8" else encoding


def _lines(paths: list[Path], encoding: str = "utf-8") -> Iterator[str]:
    shown = check_encoding(encoding)
    for path in paths:
        found = False
        with open(path, "rb") as fh:
            if b"\0" in fh.read(8192):  # a binary file fails here, before its first invalid line
                raise UserError(f"{path}: has NUL bytes: a binary (or UTF-16) file, not {shown} text")
            fh.seek(0)
            for lineno, raw in enumerate(fh, 1):
                if b"\0" in raw:
                    raise UserError(f"{path}: line {lineno} has NUL bytes: a binary (or UTF-16) file, "
                                    f"not {shown} text")
                try:
                    line = raw.decode(encoding).strip().lstrip("\ufeff")
                except UnicodeDecodeError as exc:
                    raise UserError(f"{path}: line {lineno} is not valid {shown} "
                                    f"(byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); name the "
                                    "file's encoding in data.encoding (e.g. latin-1) or re-encode the file "
                                    "as UTF-8") from None
                if line:
                    found = True
                    yield line
        if not found:
            raise UserError(f"{path}: empty corpus (no non-blank line)")


def read_lines(paths: PathLike | Sequence[PathLike], encoding: str = "utf-8") -> Iterator[str]:
    """Stream the non-blank lines (stripped) of text files in `encoding`, one sentence per line.

    Missing files fail at once; NUL bytes, bytes invalid in the encoding (with the line number) and
    files without a non-blank line fail when the stream reaches them.
    """
    return _lines(_check_files(paths), encoding)


def text_corpus(paths: PathLike | Sequence[PathLike], encoding: str = "utf-8") -> Corpus:
    """A re-iterable corpus of local text files in `encoding` (checked for existence now)."""
    files = _check_files(paths)
    check_encoding(encoding)
    return Corpus(lambda: _lines(files, encoding), ", ".join(map(str, files)))


_FILE_BUILDERS = {".txt": "text", ".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def load_hf_dataset(name_or_path: str, split: str = "train", streaming: bool = False,
                    cache_dir: str | None = None) -> Any:
    """A split of a `datasets` corpus: a hub name (needs a network), a local data file (.txt, .csv,
    .json, .jsonl, .parquet), a local dataset folder or a folder written by `save_to_disk`."""
    import datasets  # heavy import: only when a `datasets` corpus is asked for

    path = Path(name_or_path)
    try:
        if path.is_file():
            builder = _FILE_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise UserError(f"{path}: unknown data file type; use one of {', '.join(_FILE_BUILDERS)}")
            return datasets.load_dataset(builder, data_files=str(path), split=split, streaming=streaming,
                                         cache_dir=cache_dir)
        if is_saved_dataset(path):
            ds = load_saved_dataset(path, split)
            return ds.to_iterable_dataset() if streaming else ds
        return datasets.load_dataset(name_or_path, split=split, streaming=streaming, cache_dir=cache_dir)
    except (OSError, ValueError, KeyError, ConnectionError) as exc:
        raise UserError(f"cannot load dataset {name_or_path!r} (split {split!r}): {exc}") from None


def load_hf_corpus(name_or_path: str, split: str = "train", column: str = "text", streaming: bool = False,
                   cache_dir: str | None = None) -> Corpus:
    """A corpus of the text `column` of a `datasets` corpus (`load_hf_dataset` says which)."""
    ds = load_hf_dataset(name_or_path, split, streaming, cache_dir)

    def check_column(columns: Iterable[str] | None) -> None:
        if columns is not None and column not in columns:
            raise UserError(f"dataset {name_or_path!r} has no column {column!r}; columns: "
                            f"{', '.join(columns)}")

    check_column(ds.column_names)  # None for some streamed data sets: checked on the first batch then

    def stream() -> Iterator[str]:
        for batch in ds.iter(batch_size=1000):
            check_column(batch)
            for text in batch[column]:
                if not isinstance(text, str):
                    raise UserError(f"dataset {name_or_path!r} column {column!r} holds "
                                    f"{type(text).__name__}, not text")
                if text.strip():
                    yield text.strip()

    return Corpus(stream, f"{name_or_path}[{split}].{column}")


def read_id_file(path: PathLike, vocab_size: int | None = None) -> Tensor:
    """A file of space-separated integer ids, one sequence per line, all the same length (the oracle
    data format) -> LongTensor (n, length)."""
    rows = []
    for lineno, line in enumerate(read_lines(path), 1):
        try:
            row = [int(x) for x in line.split()]
        except ValueError:
            raise UserError(f"{path}: sequence {lineno} is not a list of integer ids") from None
        if rows and len(row) != len(rows[0]):
            raise UserError(f"{path}: sequence {lineno} has {len(row)} ids, the first has {len(rows[0])}")
        if min(row) < 0 or (vocab_size is not None and max(row) >= vocab_size):
            raise UserError(f"{path}: sequence {lineno} has an id outside [0, {vocab_size or 'inf'})")
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long)


@dataclass
class EncodeStats:
    """What `encode_corpus` did, for the run's log."""

    sentences: int = 0  # rows written
    truncated: int = 0  # sentences cut to max_len tokens
    dropped: int = 0  # sentences longer than max_len left out
    tokens: int = 0  # tokens written (EOS and PAD excluded)
    unknown: int = 0  # of which mapped to <unk>
    longest: int = 0  # longest sentence seen, in tokens, before truncation

    def summary(self) -> str:
        return (f"{self.sentences} sentences, {self.tokens} tokens ({self.unknown} unknown), longest "
                f"{self.longest}; {self.truncated} truncated, {self.dropped} dropped")


def encode_corpus(lines: Iterable[str], tokenizer: Tokenizer, vocab: Vocabulary, max_len: int,
                  policy: str = "truncate", out: PathLike | None = None,
                  chunk: int = 8192) -> tuple[Tensor, EncodeStats]:
    """Tokenise and encode a stream of sentences into a LongTensor (n, max_len + 1): tokens, EOS, PAD.

    Sentences longer than `max_len` tokens are cut (`truncate`, still ending with EOS), left out
    (`drop`) or refused (`error`). With `out`, rows are streamed `chunk` at a time into that file
    (written atomically, raw int64, row-major) and the returned tensor is memory-mapped from it, so
    the corpus never has to fit in memory; without `out`, the result is an ordinary tensor.
    """
    if policy not in LENGTH_POLICIES:
        raise UserError(f"unknown length policy {policy!r}: choose one of {', '.join(LENGTH_POLICIES)}")
    if max_len < 1:
        raise UserError(f"max_len must be at least 1, got {max_len}")
    stats = EncodeStats()
    blocks = _encode_blocks(lines, tokenizer, vocab, max_len, policy, chunk, stats)
    if out is None:
        return torch.from_numpy(np.concatenate(list(blocks))), stats
    _write_blocks(Path(out), blocks)
    mapped = np.memmap(out, dtype=np.int64, mode="c", shape=(stats.sentences, max_len + 1))
    return torch.from_numpy(mapped), stats


def _encode_blocks(lines: Iterable[str], tokenizer: Tokenizer, vocab: Vocabulary, max_len: int, policy: str,
                   chunk: int, stats: EncodeStats) -> Iterator[np.ndarray]:
    """Encoded rows in blocks of at most `chunk`, counting into `stats` as it goes."""
    name = getattr(lines, "name", "corpus")
    block = np.full((chunk, max_len + 1), PAD, dtype=np.int64)
    filled = 0
    for number, line in enumerate(lines, 1):
        ids = vocab.encode(tokenizer.tokenize(line))
        stats.longest = max(stats.longest, len(ids))
        if len(ids) > max_len:
            if policy == "error":
                raise UserError(f"{name}: sentence {number} has {len(ids)} tokens, over max_len={max_len} "
                                "(or choose the length policy truncate or drop)")
            if policy == "drop":
                stats.dropped += 1
                continue
            stats.truncated += 1
            ids = ids[:max_len]
        block[filled, : len(ids)] = ids
        block[filled, len(ids)] = EOS
        stats.sentences += 1
        stats.tokens += len(ids)
        stats.unknown += ids.count(UNK)
        filled += 1
        if filled == chunk:
            yield block
            block = np.full((chunk, max_len + 1), PAD, dtype=np.int64)
            filled = 0
    if stats.sentences == 0:
        raise UserError(f"{name}: no sentence to encode ({stats.dropped} dropped as longer than "
                        f"max_len={max_len})")
    if filled:
        yield block[:filled]


def _write_blocks(path: Path, blocks: Iterable[np.ndarray]) -> None:
    """Stream arrays into `path` through a temporary file and a rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for block in blocks:
                fh.write(block.tobytes())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
