"""Shared test settings: one torch thread per test process (the CI machine has 2 cores, and a
contended torch is many times slower), and subprocess environments that inherit it. The variable
is forced, not defaulted: a subprocess run compared bit-for-bit with an in-process one must use the
same thread count, since reductions split across threads round differently."""

import os

import torch

torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"


def data_or_skip(name: str, role: str):
    """The path of one file of a named data set, or a skip that names the command that provides it."""
    import pytest

    from textgan.data import locate

    found = locate(name)
    if found is None:
        pytest.skip(f"data set {name} is absent: `textgan data get {name}` (or set TEXTGAN_DATA)")
    return found.path(role)


def write_digits_idx(folder, n: int = 400, seed: int = 0):
    """A small labelled image set in MNIST's IDX format (28x28 uint8, 10 classes, each class a bar at
    its own place plus noise), so the image tests need no downloaded data. Returns the images file."""
    import gzip
    import struct

    import numpy as np

    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 10, n).astype(np.uint8)
    images = rng.randint(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 + 2 * k : 5 + 2 * k, 4:24] = 255
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "digits-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">IIII", 0x0803, n, 28, 28) + images.tobytes())
    with gzip.open(folder / "digits-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(struct.pack(">II", 0x0801, n) + labels.tobytes())
    return path
