"""Where a named data set is found: `$TEXTGAN_DATA` (a folder laid out as the project's benchmark data
folder), then the user cache (`<textgan cache>/data/<name>/`), then the package's bundled data.

Only complete, verified sets reach the cache (`textgan data get` moves a checked folder into place
in one rename), so a set found there is used as it is.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from textgan.data.registry import DATASETS, DataSet
from textgan.errors import UserError
from textgan.storage import cache_root

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


@dataclass(frozen=True)
class Located:
    """A data set found on disk: the path of each of its files, and which place holds them."""

    dataset: DataSet
    where: str  # "TEXTGAN_DATA", "cache" or "bundled"
    paths: dict[str, Path]

    def path(self, role_or_name: str) -> Path:
        return self.paths[self.dataset.file(role_or_name).name]


def data_cache_dir() -> Path:
    return cache_root() / "data"


def dataset(name: str) -> DataSet:
    """The registered data set `name`, or a `UserError` that suggests the nearest name."""
    if name in DATASETS:
        return DATASETS[name]
    close = difflib.get_close_matches(name, DATASETS, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise UserError(f"unknown data set {name!r}: {hint}known: {', '.join(DATASETS)} (`textgan data list`)")


def _places(ds: DataSet) -> list[tuple[str, dict[str, Path]]]:
    places = []
    if os.environ.get("TEXTGAN_DATA"):
        root = Path(os.environ["TEXTGAN_DATA"]).expanduser()
        places.append(("TEXTGAN_DATA", {f.name: root / f.layout for f in ds.files}))
    places.append(("cache", {f.name: data_cache_dir() / ds.name / f.name for f in ds.files}))
    if ds.bundled:
        places.append(("bundled", {f.name: BUNDLED_DIR / ds.name / f.name for f in ds.files}))
    return places


def locate(name: str) -> Located | None:
    """The first place that holds every file of the set, or None."""
    ds = dataset(name)
    for where, paths in _places(ds):
        if all(p.is_file() for p in paths.values()):
            return Located(ds, where, paths)
    return None


def how_to_get(name: str) -> str:
    return (f"get it with `textgan data get {name}` (or, offline, `textgan data get {name} --from PATH` "
            "with the file you have)")


def require(name: str) -> Located:
    """The located set, or a `UserError` naming the command that provides it."""
    found = locate(name)
    if found is None:
        raise UserError(f"data set {name} is not here: {how_to_get(name)}")
    return found


def data_file(name: str, role_or_name: str) -> Path:
    """The path of one file of a data set (by role or file name), or a `UserError` if the set is absent."""
    found = require(name)
    try:
        return found.path(role_or_name)
    except KeyError:
        roles = ", ".join(f.role or f.name for f in found.dataset.files)
        raise UserError(f"data set {name} has no file {role_or_name!r} (it has: {roles})") from None


def is_dataset_name(value: str) -> bool:
    return value in DATASETS


def near_name_hint(value: str) -> str:
    """` (did you mean the data set X?)` when a missing path looks like a mistyped data set name."""
    close = difflib.get_close_matches(value, DATASETS, n=1, cutoff=0.75)
    return f" (did you mean the data set {close[0]}?)" if close else ""
