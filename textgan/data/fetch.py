"""`textgan data get`: bring a named data set into the user cache, from its published URL (pooch,
with a progress bar) or from a file the user already has (`--from`, the offline path).

Every published file is checked against its sha256 before anything is kept; conversions (the SeqGAN
oracle's pickle to .npz) run on the checked copy in a staging folder inside the cache, and the
finished folder is moved into place with one rename. An interrupted or refused get leaves nothing
behind, and a set found in the cache is always complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from textgan.data.registry import DataFile, DataSet
from textgan.data.safe_pickle import load_numpy_pickle
from textgan.data.store import Located, data_cache_dir, dataset, locate
from textgan.errors import UserError

ORACLE_ARRAYS = ("embedding", "Wi", "Ui", "bi", "Wf", "Uf", "bf", "Wog", "Uog", "bog", "Wc",
                 "Uc", "bc", "Wo", "bo")
DOWNLOAD_TIMEOUT_S = 30


def get(name: str, from_path: str | Path | None = None) -> tuple[Located, bool]:
    """Make data set `name` available; returns where it is and whether this call placed it."""
    ds = dataset(name)
    found = locate(name)
    if found is not None:
        return found, False
    cache = data_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=cache))
        staging.chmod(0o755)  # mkdtemp's folder is private; the placed set is as readable as any download
    except OSError as exc:
        raise UserError(f"cannot write to the data cache {cache}: {exc.strerror} "
                        "(set TEXTGAN_CACHE to a writable folder)") from None
    try:
        published = staging / ".published"
        published.mkdir()
        for f in ds.files:
            raw = published / f.published_name
            if from_path is not None:
                _import(_source_in(ds, f, Path(from_path).expanduser()), raw, ds, f)
            else:
                _download(f, raw, ds)
            CONVERTERS.get(f.convert, _keep)(raw, staging / f.name)
        shutil.rmtree(published)
        try:
            os.replace(staging, cache / ds.name)
        except OSError:
            if locate(name) is None:  # not a concurrent get that finished first
                raise UserError(f"cannot place {name} in {cache}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    placed = locate(name)
    assert placed is not None
    return placed, True


def _source_in(ds: DataSet, f: DataFile, given: Path) -> Path:
    """The user's copy of published file `f`: `given` itself for a one-file set, else the file of that
    name in the folder `given` (or beside the file `given`)."""
    if not given.exists():
        raise UserError(f"cannot read {given}: no such file or folder")
    if len(ds.files) == 1 and not given.is_dir():
        return given
    folder = given if given.is_dir() else given.parent
    return folder / f.published_name


def _import(source: Path, target: Path, ds: DataSet, f: DataFile) -> None:
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc.strerror or exc}") from None
    _check(source, digest.hexdigest(), ds, f)


def _check(source: Path | str, sha256: str, ds: DataSet, f: DataFile) -> None:
    if sha256 != f.sha256:
        raise UserError(f"{source} is not {ds.name}'s {f.published_name}: its sha256 is "
                        f"{sha256[:16]}..., expected {f.sha256[:16]}... (a different or damaged file); "
                        "nothing was cached")


def _download(f: DataFile, target: Path, ds: DataSet) -> None:
    import pooch
    import requests

    print(f"downloading {ds.name}: {f.url}", flush=True)
    pooch.get_logger().setLevel(logging.WARNING)  # the line above says it once
    try:
        pooch.retrieve(f.url, known_hash=None, fname=target.name, path=target.parent,
                       downloader=pooch.HTTPDownloader(progressbar=True, timeout=DOWNLOAD_TIMEOUT_S))
    except (requests.RequestException, OSError) as exc:
        reason = type(exc).__name__ if isinstance(exc, requests.ConnectionError) else str(exc).splitlines()[0]
        raise UserError(f"cannot download {f.url} ({reason}); with the file at hand, import it: "
                        f"`textgan data get {ds.name} --from PATH`") from None
    _check(f.url, pooch.file_hash(str(target)), ds, f)


def _keep(raw: Path, target: Path) -> None:
    os.replace(raw, target)


def _seqgan_pickle_to_npz(raw: Path, target: Path) -> None:
    """SeqGAN's `target_params_py3.pkl` (a list of 15 float32 arrays) -> an .npz with named arrays."""
    try:
        arrays = load_numpy_pickle(raw)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise UserError(f"cannot read the SeqGAN oracle pickle: {exc}") from None
    if not isinstance(arrays, list) or len(arrays) != len(ORACLE_ARRAYS):
        raise UserError(f"the SeqGAN oracle pickle holds no list of {len(ORACLE_ARRAYS)} arrays")
    with open(target, "wb") as fh:
        np.savez(fh, **dict(zip(ORACLE_ARRAYS, arrays)))


CONVERTERS: dict[str, Callable[[Path, Path], None]] = {"seqgan-pickle": _seqgan_pickle_to_npz}
