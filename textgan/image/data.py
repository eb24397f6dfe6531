"""Image data for the image game: an image folder, a `datasets` image corpus, numpy arrays or MNIST's
IDX files, turned into one uint8 tensor (n, channels, size, size) plus optional integer labels.

Every image goes the same way: converted to the recipe's channel count (PIL's `convert("L")` or
`convert("RGB")`, so a folder that mixes grayscale, RGB, palette and RGBA files is read as all-gray or
all-RGB, alpha dropped), resized so that its shorter side is `image_size` and centre-cropped to a
square (`PIL.ImageOps.fit`, bicubic). Scaling to [-1, 1] happens per batch (`to_unit_range`), so a
data set is held in memory as uint8 (CIFAR-10: 150 MB rather than 600 MB).

Corrupt files in a folder (unreadable or truncated images) are skipped: one warning line on stderr
counts them and names the first; a folder where nothing could be read, or with no image files at
all, is a `UserError`. Labels: IDX label files next to the images, `labels` in an .npz, a `datasets`
label column, or — for a folder whose images all sit in two or more first-level subfolders — the
subfolder names (the ImageFolder convention).
"""

from __future__ import annotations

import gzip
import hashlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from textgan.errors import UserError
from textgan.storage import is_saved_dataset, load_saved_dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass
class ImageData:
    """Images as uint8 (n, channels, size, size) and labels as int64 (n,) or None."""

    images: Tensor
    labels: Tensor | None
    description: str

    def digest(self) -> str:
        """A SHA-256 of the pixels and labels: the cache key of anything derived from this data."""
        h = hashlib.sha256(self.images.numpy().tobytes())
        h.update(str(tuple(self.images.shape)).encode())
        if self.labels is not None:
            h.update(self.labels.numpy().tobytes())
        return h.hexdigest()


def to_unit_range(images: Tensor) -> Tensor:
    """uint8 pixels 0..255 -> float in [-1, 1] (the generator's tanh range)."""
    return images.float() / 127.5 - 1.0


def resolve_path(path: str) -> Path:
    """A data set name (`mnist-test`: its images file, labels beside it), else the path as given."""
    from textgan.data import data_file, dataset, is_dataset_name

    if is_dataset_name(path):
        roles = {f.role for f in dataset(path).files}
        if "images" not in roles:
            raise UserError(f"data set {path} holds no images (see `textgan data list`)")
        return data_file(path, "images")
    return Path(path).expanduser()


# ---------------------------------------------------------------------------- one image
def prepare_image(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """One PIL image -> uint8 (channels, size, size): channel conversion, resize, centre crop."""
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (size, size):
        image = ImageOps.fit(image, (size, size), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _stack(images: Iterable[np.ndarray], size: int, channels: int) -> np.ndarray:
    out = list(images)
    if not out:
        return np.zeros((0, channels, size, size), dtype=np.uint8)
    return np.stack(out)


# ---------------------------------------------------------------------------- IDX (MNIST)
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (MNIST's format; gzip-compressed or not) as a numpy array.

    Hand-written because the format is four header bytes and big-endian dimensions, and no package
    in the dependencies reads it: bytes 0-1 are zero, byte 2 the element type, byte 3 the number of
    dimensions, then one big-endian uint32 per dimension, then the data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise UserError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] or raw[1] or raw[2] not in _IDX_DTYPES:
        raise UserError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise UserError(f"{path}: header says {dims} ({expected} bytes of data) but the file holds "
                        f"{len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _find_idx(folder: Path, kind: str) -> Path | None:
    found = sorted(p for p in folder.iterdir() if f"{kind}-idx" in p.name)
    return found[0] if found else None


def load_idx(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (n, h, w) and labels (or None) from an IDX images file, or a folder holding one
    `*images-idx3-ubyte[.gz]` file and optionally its `*labels-idx1-ubyte[.gz]`."""
    if path.is_dir():
        images_file, labels_file = _find_idx(path, "images"), _find_idx(path, "labels")
        if images_file is None:
            raise UserError(f"no IDX images file (*images-idx3-ubyte[.gz]) in {path}")
    else:
        images_file = path
        sibling = path.with_name(path.name.replace("images-idx3", "labels-idx1"))
        labels_file = sibling if sibling != path and sibling.is_file() else None
    images = read_idx(images_file)
    if images.ndim != 3:
        raise UserError(f"{images_file}: expected (n, height, width) images, got shape {images.shape}")
    labels = read_idx(labels_file) if labels_file else None
    if labels is not None and labels.shape != (len(images),):
        raise UserError(f"{labels_file}: {labels.shape} labels for {len(images)} images")
    return images, labels


# ---------------------------------------------------------------------------- numpy arrays
def load_numpy(path: Path, key: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Images from .npy (the array) or .npz (`key`, default `images`, and optional `labels`).
    Accepted: uint8 0..255 or float 0..1, shaped (n, h, w), (n, h, w, c) or (n, c, h, w) with c 1 or 3."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read numpy file {path}: {exc}") from None
    labels = None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        name = key or "images"
        if name not in loaded.files:
            raise UserError(f"{path} has no array {name!r}; arrays: {', '.join(loaded.files)}")
        images, labels = loaded[name], (loaded["labels"] if "labels" in loaded.files else None)
    else:
        images = loaded
    if images.dtype != np.uint8:
        if (not np.issubdtype(images.dtype, np.floating)
                or images.size and (images.min() < 0 or images.max() > 1)):
            raise UserError(f"{path}: images must be uint8 (0..255) or floats in [0, 1], got {images.dtype}")
        images = np.round(images * 255).astype(np.uint8)
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise UserError(f"{path}: expected images shaped (n, h, w[, 1|3]) or (n, 1|3, h, w), got "
                        f"{images.shape}")
    if labels is not None and labels.shape != (len(images),):
        raise UserError(f"{path}: {labels.shape} labels for {len(images)} images")
    return images, labels


def arrays_to_images(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 (n, h, w) or (n, h, w, 3) -> (n, channels, size, size), through PIL only where needed."""
    square = images.shape[1] == images.shape[2] == size
    same_channels = (images.ndim == 3) == (channels == 1)
    if square and same_channels:
        return images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return _stack((prepare_image(Image.fromarray(a), size, channels) for a in images), size, channels)


# ---------------------------------------------------------------------------- folders
def image_files(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, in sorted order."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _folder_labels(folder: Path, files: list[Path]) -> tuple[list[str], list[int]] | None:
    """ImageFolder labels: every file in a first-level subfolder and at least two of them."""
    parts = [f.relative_to(folder).parts for f in files]
    if any(len(p) < 2 for p in parts):
        return None
    classes = sorted({p[0] for p in parts})
    if len(classes) < 2:
        return None
    index = {c: i for i, c in enumerate(classes)}
    return classes, [index[p[0]] for p in parts]


def load_folder(folder: Path, size: int,
                channels: int, limit: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Every readable image under `folder`; corrupt files are skipped and counted in one warning."""
    if not folder.is_dir():
        raise UserError(f"image folder not found: {folder}")
    files = image_files(folder)
    if not files:
        raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    labelled = _folder_labels(folder, files)
    kept, labels, bad = [], [], []
    for i, file in enumerate(files):
        if limit and len(kept) >= limit:
            break
        try:
            with Image.open(file) as image:
                kept.append(prepare_image(image, size, channels))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            bad.append(file)
            continue
        if labelled:
            labels.append(labelled[1][i])
    if bad:
        print(f"warning: skipped {len(bad)} unreadable image file(s) under {folder} (first: {bad[0]})",
              file=sys.stderr)
    if not kept:
        raise UserError(f"none of the {len(files)} image files under {folder} could be read")
    return np.stack(kept), (np.asarray(labels, dtype=np.int64) if labelled else None)


# ---------------------------------------------------------------------------- datasets
def _hf_rows(name_or_path: str, split: str) -> Any:
    import datasets  # heavy import: only when a `datasets` corpus is asked for

    path = Path(name_or_path)
    try:
        if is_saved_dataset(path):
            return load_saved_dataset(path, split)
        return datasets.load_dataset(name_or_path, split=split)
    except (OSError, ValueError, KeyError, ConnectionError) as exc:
        hint = ("" if path.exists()
                else "; offline, use a local copy: --set data.source=folder --set data.path=DIR")
        raise UserError(f"cannot load dataset {name_or_path!r} (split {split!r}): "
                        f"{str(exc).splitlines()[0]}{hint}") from None


def _as_pil(value: Any, where: str) -> Image.Image:
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray):
        return Image.fromarray(value)
    raise UserError(f"{where} holds {type(value).__name__}, not images")


def load_hf(name_or_path: str, split: str, column: str, label_column: str, size: int, channels: int,
            limit: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (and labels, when `label_column` exists) from a `datasets` corpus."""
    ds = _hf_rows(name_or_path, split)
    if column not in ds.column_names:
        raise UserError(f"dataset {name_or_path!r} has no column {column!r}; columns: "
                        f"{', '.join(ds.column_names)}")
    if limit:
        ds = ds.select(range(min(limit, len(ds))))
    where = f"dataset {name_or_path!r} column {column!r}"
    images = _stack((prepare_image(_as_pil(v, where), size, channels) for v in _column(ds, column)),
                    size, channels)
    labels = (np.asarray(ds[label_column], dtype=np.int64)
              if label_column and label_column in ds.column_names else None)
    return images, labels


def _column(ds: Any, column: str) -> Iterator[Any]:
    for batch in ds.select_columns([column]).iter(batch_size=500):
        yield from batch[column]


# ---------------------------------------------------------------------------- entry point
def load_images(source: str, path: str, *, size: int, channels: int, split: str = "train",
                column: str = "image", label_column: str = "label",
                numpy_key: str = "", limit: int = 0) -> ImageData:
    """Load a data set from `source` (`idx`, `folder`, `numpy` or `hf`) as `ImageData`."""
    where = resolve_path(path) if source != "hf" else path
    if source == "folder":
        images, labels = load_folder(Path(where), size, channels, limit)
    elif source == "hf":
        images, labels = load_hf(str(where), split, column, label_column, size, channels, limit)
    else:
        where = Path(where)
        if not where.exists():
            from textgan.data import near_name_hint

            raise UserError(f"{source} data not found: {where}{near_name_hint(path)}")
        images, labels = load_idx(where) if source == "idx" else load_numpy(where, numpy_key)
        if limit:
            images, labels = images[:limit], (labels[:limit] if labels is not None else None)
        images = arrays_to_images(images, size, channels)
    if len(images) == 0:
        raise UserError(f"no images in {where}")
    return ImageData(
        images=torch.from_numpy(np.array(images, dtype=np.uint8)),  # a copy: IDX arrays are read-only views
        labels=torch.from_numpy(labels.astype(np.int64)) if labels is not None else None,
        description=f"{source}:{where} ({len(images)} images, {channels}x{size}x{size})",
    )
