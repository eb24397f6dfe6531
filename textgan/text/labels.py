"""Labelled corpora for category-conditional text games: one corpus of sentences per category.

Two sources, one convention each:
- `data.label_files`: one file (or list of files) per category, as SentiGAN's and TextGAN-PyTorch's
  `mr15_cat0.txt` / `mr15_cat1.txt` and MR's own `rt-polarity.neg` / `.pos`. Either a mapping
  `{category: file or [files]}` (the category is the key: file stems such as MR's `rt-polarity` need
  not differ) or a registered data set name whose files are the categories by their role
  (`movie-review`: `pos` and `neg`).
- a `datasets` corpus with a label column (`data.label_column`, as the image game's): a
  `ClassLabel` column names its categories; any other column's distinct values, sorted, are the
  categories' names.
Category names become metric names (`class_accuracy_pos`), so they are letters, digits, `_` and `-`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textgan.data import data_file, dataset
from textgan.errors import UserError
from textgan.text.corpus import Corpus, load_hf_dataset, text_corpus

CATEGORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass
class LabelledCorpora:
    """The categories' names and, for each, its training sentences and (when given) its test sentences."""

    categories: list[str]
    train: list[Corpus]
    test: list[Corpus] | None = None


def check_categories(names: list[str], where: str) -> None:
    """UserError unless there are two or more distinct names usable in metric names."""
    if len(names) < 2:
        raise UserError(f"{where}: category-conditional data need at least two categories, got {names}")
    for name in names:
        if not CATEGORY_NAME.fullmatch(name):
            raise UserError(f"{where}: category name {name!r} must be letters, digits, '_' or '-' "
                            "(it names metrics such as class_accuracy_<name>)")
    if len(set(names)) != len(names):
        raise UserError(f"{where}: a category is named twice: {names}")


def label_file_corpora(spec: dict[str, Any] | str, encoding: str) -> LabelledCorpora:
    """The corpora of `data.label_files`: a mapping category -> file(s), or a data set name."""
    if isinstance(spec, str):
        files = dataset(spec).files
        names = [f.role for f in files]
        check_categories(names, f"data.label_files {spec}")
        return LabelledCorpora(names, [text_corpus([data_file(spec, f.role)], encoding) for f in files])
    names = [str(name) for name in spec]
    check_categories(names, "data.label_files")
    corpora = []
    for name, files in spec.items():
        paths = [files] if isinstance(files, str) else files
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise UserError(f"data.label_files.{name} must be a file or a list of files, got {files!r}")
        corpora.append(text_corpus([Path(p).expanduser() for p in paths], encoding))
    return LabelledCorpora(names, corpora)


def _category_names(ds: Any, label_column: str) -> tuple[list[str], dict[Any, int]]:
    """The names of a split's categories and each label value's category index."""
    feature = ds.features.get(label_column) if ds.features is not None else None
    names = getattr(feature, "names", None)
    if names:
        return [str(n) for n in names], {i: i for i in range(len(names))}
    values = sorted(set(ds[label_column]), key=str)
    return [str(v) for v in values], {v: i for i, v in enumerate(values)}


def hf_labelled_corpora(name: str, split: str, test_split: str, column: str,
                        label_column: str) -> LabelledCorpora | None:
    """One corpus per category of a `datasets` corpus's `label_column` (None when it has no such
    column); the test split's values must be among the training split's."""
    train_ds = load_hf_dataset(name, split)
    if not label_column or label_column not in train_ds.column_names:
        return None
    if column not in train_ds.column_names:
        raise UserError(f"dataset {name!r} has no column {column!r}; columns: "
                        f"{', '.join(train_ds.column_names)}")
    categories, index = _category_names(train_ds, label_column)
    check_categories(categories, f"dataset {name!r} column {label_column!r}")

    def corpora(ds: Any, which: str) -> list[Corpus]:
        return [Corpus(_labelled_stream(ds, name, which, column, label_column, index, c),
                       f"{name}[{which}].{column}[{label_column}={categories[c]}]")
                for c in range(len(categories))]

    test = None
    if test_split:
        test_ds = load_hf_dataset(name, test_split)
        unknown = set(test_ds[label_column]) - set(index)
        if unknown:
            raise UserError(f"dataset {name!r} split {test_split!r} has labels the training split has not: "
                            f"{sorted(map(str, unknown))[:5]}")
        test = corpora(test_ds, test_split)
    return LabelledCorpora(categories, corpora(train_ds, split), test)


def _labelled_stream(ds: Any, name: str, split: str, column: str, label_column: str, index: dict[Any, int],
                     category: int) -> Any:
    """A function opening a pass over the texts of one category."""
    def stream() -> Iterator[str]:
        for batch in ds.iter(batch_size=1000):
            for text, label in zip(batch[column], batch[label_column]):
                if not isinstance(text, str):
                    raise UserError(f"dataset {name!r} [{split}] column {column!r} holds "
                                    f"{type(text).__name__}, not text")
                if index[label] == category and text.strip():
                    yield text.strip()

    return stream
