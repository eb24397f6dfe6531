"""Image data: folders (corrupt files, grayscale/RGB mix, empty), MNIST IDX files, numpy arrays and a
saved `datasets` corpus, each checked against PIL/numpy doing the same thing directly."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from tests.conftest import data_or_skip
from textgan.errors import UserError
from textgan.image.data import load_idx, load_images, read_idx, to_unit_range


def _rgb(seed: int, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (size[1], size[0], 3), dtype=np.uint8),
                           "RGB")


@pytest.fixture()
def mixed_folder(tmp_path: Path) -> Path:
    """Two RGB PNGs (one not square), a grayscale PNG, a palette PNG, a nested RGB JPEG, a corrupt
    PNG, a truncated PNG and a text file."""
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    _rgb(0, (40, 30)).save(root / "a.png")
    _rgb(1, (16, 16)).save(root / "b.png")
    Image.fromarray(np.full((20, 20), 100, np.uint8), "L").save(root / "gray.png")
    _rgb(2, (24, 24)).convert("P").save(root / "palette.png")
    _rgb(3, (32, 32)).save(root / "sub" / "c.jpg", quality=95)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    good = (root / "b.png").read_bytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "notes.txt").write_text("not an image")
    return root


def test_folder_mix_is_converted_resized_and_corrupt_files_are_skipped(mixed_folder: Path, capsys):
    data = load_images("folder", str(mixed_folder), size=16, channels=3)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: skipped 2 unreadable image file(s)")
    assert data.images.shape == (5, 3, 16, 16) and data.images.dtype == torch.uint8 and data.labels is None
    files = ["a.png", "b.png", "gray.png", "palette.png", "sub/c.jpg"]  # sorted order of the readable files
    for i, name in enumerate(files):
        expected = ImageOps.fit(Image.open(mixed_folder / name).convert("RGB"), (16, 16),
                                Image.Resampling.BICUBIC)
        assert np.array_equal(data.images[i].permute(1, 2, 0).numpy(), np.asarray(expected)), name
    assert (data.images[2] == 100).all()  # the grayscale file becomes three equal channels


def test_folder_as_grayscale_uses_pil_luma(mixed_folder: Path):
    data = load_images("folder", str(mixed_folder), size=16, channels=1)
    assert data.images.shape == (5, 1, 16, 16)
    expected = ImageOps.fit(Image.open(mixed_folder / "a.png").convert("L"), (16, 16),
                            Image.Resampling.BICUBIC)
    assert np.array_equal(data.images[0, 0].numpy(), np.asarray(expected))


def test_folder_errors(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        load_images("folder", str(tmp_path / "empty"), size=16, channels=1)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"junk")
    with pytest.raises(UserError, match="none of the 1 image files"):
        load_images("folder", str(tmp_path / "bad"), size=16, channels=1)
    with pytest.raises(UserError, match="image folder not found"):
        load_images("folder", str(tmp_path / "missing"), size=16, channels=1)


def test_subfolders_give_labels(tmp_path: Path):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            _rgb(i, (8, 8)).save(tmp_path / cls / f"{i}.png")
    data = load_images("folder", str(tmp_path), size=8, channels=3)
    assert data.labels.tolist() == [0, 0, 1, 1]


def test_idx_matches_the_published_mnist_files_headers():
    MNIST = data_or_skip("mnist-test", "images").parent
    with gzip.open(MNIST / "t10k-images-idx3-ubyte.gz", "rb") as fh:
        magic, n, rows, cols = struct.unpack(">IIII", fh.read(16))
    with gzip.open(MNIST / "t10k-labels-idx1-ubyte.gz", "rb") as fh:
        label_magic, n_labels = struct.unpack(">II", fh.read(8))
    assert (magic, label_magic) == (2051, 2049)
    images, labels = load_idx(MNIST)
    assert images.shape == (n, rows, cols) == (10_000, 28, 28) and labels.shape == (n_labels,)
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    data = load_images("idx", str(MNIST / "t10k-images-idx3-ubyte.gz"), size=28, channels=1, limit=100)
    assert (data.images.shape == (100, 1, 28, 28)
            and torch.equal(data.images[:, 0], torch.from_numpy(images[:100].copy())))
    assert data.labels.tolist() == labels[:100].tolist()


def test_idx_rejects_bad_files(tmp_path: Path):
    bad = tmp_path / "x-images-idx3-ubyte"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(UserError, match="not an IDX file"):
        read_idx(bad)
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(UserError, match="header says"):
        read_idx(bad)


def test_numpy_arrays(tmp_path: Path):
    rgb = np.random.RandomState(0).randint(0, 256, (6, 12, 12, 3), dtype=np.uint8)
    np.save(tmp_path / "a.npy", rgb)
    data = load_images("numpy", str(tmp_path / "a.npy"), size=12, channels=3)
    assert torch.equal(data.images, torch.from_numpy(rgb.transpose(0, 3, 1, 2).copy()))
    np.savez(tmp_path / "b.npz", images=rgb.transpose(0, 3, 1, 2) / 255.0, labels=np.arange(6))
    data = load_images("numpy", str(tmp_path / "b.npz"), size=8, channels=1)
    assert data.images.shape == (6, 1, 8, 8) and data.labels.tolist() == list(range(6))
    expected = ImageOps.fit(Image.fromarray(rgb[0]).convert("L"), (8, 8), Image.Resampling.BICUBIC)
    assert np.array_equal(data.images[0, 0].numpy(), np.asarray(expected))
    np.save(tmp_path / "c.npy", rgb * 2.0)
    with pytest.raises(UserError, match="uint8"):
        load_images("numpy", str(tmp_path / "c.npy"), size=12, channels=3)


def test_datasets_corpus_saved_to_disk(tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    images = [_rgb(i, (10, 10)) for i in range(4)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    datasets.Dataset.from_dict({"image": images, "label": [3, 1, 2, 0]},
                               features=features).save_to_disk(tmp_path / "ds")
    data = load_images("hf", str(tmp_path / "ds"), size=10, channels=3)
    assert data.labels.tolist() == [3, 1, 2, 0]
    assert np.array_equal(data.images[1].permute(1, 2, 0).numpy(), np.asarray(images[1]))
    with pytest.raises(UserError, match="no column 'img'"):
        load_images("hf", str(tmp_path / "ds"), size=10, channels=3, column="img")


def test_unit_range():
    assert to_unit_range(torch.tensor([0, 255], dtype=torch.uint8)).tolist() == [-1.0, 1.0]
