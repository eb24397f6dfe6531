import random
from pathlib import Path

import numpy as np
import pytest
import torch

from textgan.core import checkpoint
from textgan.core.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from textgan.errors import UserError
from textgan.storage import atomic_write_text


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)}, {"model": 1})

    def crash(obj, target):
        Path(target).write_bytes(b"half a checkpoi")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2, "w": torch.zeros(3)}, {"model": 1})
    monkeypatch.undo()
    assert load_checkpoint(path, {"model": 1})["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_atomic_text_replaces_whole_file(tmp_path: Path):
    path = tmp_path / "a" / "summary.json"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert len(list(path.parent.iterdir())) == 1


def test_signature_mismatch_is_refused_with_the_difference(tmp_path: Path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 3}, {"model": {"g_hidden": 256}, "game": "toy"})
    with pytest.raises(UserError, match=r"model\.g_hidden is 256 in the checkpoint but 16 now"):
        load_checkpoint(path, {"model": {"g_hidden": 16}, "game": "toy"})


def test_foreign_and_corrupt_files_are_refused(tmp_path: Path):
    missing = tmp_path / "none.pt"
    with pytest.raises(UserError, match="checkpoint not found"):
        load_checkpoint(missing)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(1)}, foreign)
    with pytest.raises(UserError, match="not a textgan checkpoint"):
        load_checkpoint(foreign)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": 1, "obj": Path("x")}, pickled)  # arbitrary objects are not weights-only
    with pytest.raises(UserError, match="cannot read checkpoint"):
        load_checkpoint(pickled)


def test_rng_states_round_trip_through_weights_only_load(tmp_path: Path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached Gaussian in numpy's state
    save_checkpoint(tmp_path / "r.pt", {"rng": rng_state()}, {})
    expected = (random.random(), np.random.standard_normal(), np.random.rand(), torch.rand(2))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    got = (random.random(), np.random.standard_normal(), np.random.rand(), torch.rand(2))
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])


def test_damaged_checkpoints_are_refused_in_one_line(tmp_path):
    """An empty file, random bytes, and a tensor byte changed after saving (torch still parses it)."""
    import pytest

    from textgan.core.checkpoint import load_checkpoint, save_checkpoint
    from textgan.errors import UserError

    path = tmp_path / "last.pt"
    state = {"step": 3, "generator": {"w": torch.arange(1000, dtype=torch.float32)}, "rng": [1, (2, 3), None]}
    save_checkpoint(path, state, {"game": "toy"})
    assert load_checkpoint(path, {"game": "toy"})["step"] == 3
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)
    data = bytearray(path.read_bytes())
    where = data.find(torch.tensor(500.0).numpy().tobytes())  # the float 500.0 inside the tensor's bytes
    data[where + 3] ^= 0x01
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    assert torch.load(damaged, weights_only=True)["step"] == 3  # torch reads it without complaint
    with pytest.raises(UserError, match="is damaged"):
        load_checkpoint(damaged)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "noise.pt").write_bytes(bytes(range(256)) * 8)
    for name in ("empty.pt", "noise.pt"):
        with pytest.raises(UserError, match="cannot read checkpoint") as err:
            load_checkpoint(tmp_path / name)
        assert "weights_only=False" not in str(err.value)
