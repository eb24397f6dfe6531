"""Data sets by name: bundled bytes equal the registry's sums, resolution order, `textgan data get`
from a file (`--from`) or a URL (a server on the loopback), refusals of tampered files and of pickles
that ask for anything but numpy arrays, and one `error:` line for each bad input."""

import hashlib
import http.server
import os
import pickle
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from textgan.cli import main
from textgan.data import DATASETS, DataFile, DataSet, locate
from textgan.data.fetch import ORACLE_ARRAYS
from textgan.data.safe_pickle import load_numpy_pickle
from textgan.data.store import BUNDLED_DIR

BENCHMARK_DATA = os.environ.get("TEXTGAN_DATA", "")  # read before the fixture below hides it


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch) -> Path:
    """Every test starts with an empty textgan cache and no TEXTGAN_DATA."""
    monkeypatch.setenv("TEXTGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TEXTGAN_DATA", raising=False)
    return tmp_path / "cache"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def add_dataset(monkeypatch, name: str, payloads: dict[str, bytes],
                url: str = "", convert: str = "") -> DataSet:
    files = tuple(DataFile(n, f"{name}/{n}", len(b), sha256(b), f"{url}/{n}" if url else "", n, "", convert)
                  for n, b in payloads.items())
    ds = DataSet(name, "a test set", "test", "tests", files)
    monkeypatch.setitem(DATASETS, name, ds)
    return ds


def one_error_line(capsys) -> str:
    """The one line on stderr besides a download's progress bar, which must be an `error:` line."""
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "%|" not in line]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bundled_coco_is_the_registered_bytes():
    for f in DATASETS["coco"].files:
        data = (BUNDLED_DIR / "coco" / f.name).read_bytes()
        assert (len(data), sha256(data)) == (f.size, f.sha256)
        assert len(data.decode("utf-8").splitlines()) == 10_000
    assert "MIT" in (BUNDLED_DIR / "coco" / "LICENSE").read_text()


def test_resolution_order_is_textgan_data_then_cache_then_bundled(tmp_path, monkeypatch, empty_cache):
    assert locate("coco").where == "bundled"
    cached = empty_cache / "data" / "coco"
    cached.mkdir(parents=True)
    for f in DATASETS["coco"].files:
        (cached / f.name).write_text("cached\n")
    assert locate("coco").where == "cache" and locate("coco").path("train") == cached / "image_coco.txt"
    shared = tmp_path / "shared"
    for f in DATASETS["coco"].files:
        (shared / f.layout).parent.mkdir(parents=True, exist_ok=True)
        (shared / f.layout).write_text("shared\n")
    monkeypatch.setenv("TEXTGAN_DATA", str(shared))
    assert (locate("coco").where == "TEXTGAN_DATA"
            and locate("coco").path("test") == shared / "coco/testdata/test_coco.txt")
    assert locate("seqgan-oracle") is None


def test_get_from_a_folder_checks_and_places_every_file(tmp_path, monkeypatch, capsys, empty_cache):
    add_dataset(monkeypatch, "pair", {"a.txt": b"alpha\n", "b.txt": b"beta\n"})
    source = tmp_path / "have"
    source.mkdir()
    (source / "a.txt").write_bytes(b"alpha\n")
    (source / "b.txt").write_bytes(b"beta\n")
    assert main(["data", "get", "pair", "--from", str(source / "a.txt")]) == 0  # a file: its folder is read
    assert "checked and placed" in capsys.readouterr().out
    assert sorted(p.name for p in (empty_cache / "data").iterdir()) == ["pair"]
    assert (empty_cache / "data" / "pair" / "b.txt").read_bytes() == b"beta\n"
    assert main(["data", "get", "pair"]) == 0 and "already present" in capsys.readouterr().out


def test_a_tampered_file_is_refused_and_nothing_is_cached(tmp_path, monkeypatch, capsys, empty_cache):
    add_dataset(monkeypatch, "one", {"x.bin": b"\x00" * 1000})
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"\x00" * 999 + b"\x01")
    assert main(["data", "get", "one", "--from", str(bad)]) == 2
    assert "is not one's x.bin" in one_error_line(capsys)
    assert list((empty_cache / "data").iterdir()) == []  # no set, no staging folder left behind


def test_bad_names_paths_and_caches_are_one_error_line(tmp_path, monkeypatch, capsys):
    assert main(["data", "get", "seqgan-oracel"]) == 2
    assert "did you mean seqgan-oracle?" in one_error_line(capsys)
    assert main(["data", "get", "seqgan-oracle", "--from", str(tmp_path / "nothing.pkl")]) == 2
    assert "cannot read" in one_error_line(capsys)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert main(["data", "get", "seqgan-oracle", "--from", str(folder)]) == 2
    assert "cannot read" in one_error_line(capsys)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("TEXTGAN_CACHE", str(tmp_path / "file" / "cache"))
    assert main(["data", "get", "seqgan-oracle", "--from", str(folder)]) == 2
    assert "cannot write to the data cache" in one_error_line(capsys)


class _Handler(http.server.BaseHTTPRequestHandler):
    payloads: ClassVar[dict[str, bytes]] = {}

    def do_GET(self):
        body = self.payloads.get(self.path.rsplit("/", 1)[-1])
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.payloads
    httpd.shutdown()
    _Handler.payloads.clear()


def test_download_is_checked_before_it_is_kept(monkeypatch, capsys, server, empty_cache):
    url, payloads = server
    add_dataset(monkeypatch, "web", {"w.txt": b"the published bytes\n"}, url)
    payloads["w.txt"] = b"the published bytes, altered\n"
    assert main(["data", "get", "web"]) == 2
    assert "is not web's w.txt" in one_error_line(capsys)
    assert list((empty_cache / "data").iterdir()) == []
    payloads["w.txt"] = b"the published bytes\n"
    assert main(["data", "get", "web"]) == 0
    assert (empty_cache / "data" / "web" / "w.txt").read_bytes() == b"the published bytes\n"


def test_no_network_is_one_error_line_that_suggests_from(monkeypatch, capsys):
    add_dataset(monkeypatch, "away", {"a.txt": b"a"}, "http://127.0.0.1:9")  # the discard port: refused
    assert main(["data", "get", "away"]) == 2
    assert "--from PATH" in one_error_line(capsys)


class _Boom:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_asks_for_another_global_is_refused_unrun(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "ran"
    evil = pickle.dumps([np.zeros(3, np.float32), _Boom(marker)], protocol=4)
    (tmp_path / "evil.pkl").write_bytes(evil)
    with pytest.raises(pickle.UnpicklingError,
                       match="refused to load posix.system|refused to load os.system"):
        load_numpy_pickle(tmp_path / "evil.pkl")
    add_dataset(monkeypatch, "evil", {"evil.pkl": evil}, convert="seqgan-pickle")
    assert main(["data", "get", "evil", "--from", str(tmp_path / "evil.pkl")]) == 2
    assert "refused to load" in one_error_line(capsys)
    assert not marker.exists()


def test_numpy_arrays_round_trip_through_the_restricted_unpickler(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((7, 3)).astype(np.float32), rng.integers(0, 9, 11),
              np.float64(2.5) * np.ones(2)]
    # Python 3's protocol 2 wraps bytes in _codecs.encode: refused
    for protocol in (3, pickle.HIGHEST_PROTOCOL):
        (tmp_path / "a.pkl").write_bytes(pickle.dumps(arrays, protocol=protocol))
        back = load_numpy_pickle(tmp_path / "a.pkl")
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(arrays, back))


@pytest.fixture
def seqgan_pickle() -> Path:
    """SeqGAN's own target_params_py3.pkl, which only a benchmark data folder (TEXTGAN_DATA) holds."""
    path = Path(BENCHMARK_DATA) / "seqgan_oracle" / "target_params_py3.pkl"
    if not BENCHMARK_DATA or not path.is_file():
        pytest.skip("SeqGAN's target_params_py3.pkl is absent: set TEXTGAN_DATA to a folder that holds it")
    return path


def test_seqgan_oracle_import_equals_the_converted_npz(seqgan_pickle, tmp_path, capsys, empty_cache):
    assert main(["data", "get", "seqgan-oracle", "--from", str(seqgan_pickle)]) == 0
    got = np.load(empty_cache / "data" / "seqgan-oracle" / "target_params.npz")
    want = np.load(seqgan_pickle.parent / "target_params.npz")
    assert got.files == list(ORACLE_ARRAYS) == want.files
    assert all(got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]) for k in want.files)
    tampered = bytearray(seqgan_pickle.read_bytes())
    tampered[len(tampered) // 2] ^= 1
    (tmp_path / "t.pkl").write_bytes(bytes(tampered))
    (empty_cache / "data" / "seqgan-oracle" / "target_params.npz").unlink()
    (empty_cache / "data" / "seqgan-oracle").rmdir()
    capsys.readouterr()
    assert main(["data", "get", "seqgan-oracle", "--from", str(tmp_path / "t.pkl")]) == 2
    assert "sha256" in one_error_line(capsys) and list((empty_cache / "data").iterdir()) == []


def test_a_recipe_that_names_an_absent_set_says_how_to_get_it(tmp_path, capsys):
    assert main(["train", "mle_oracle", "--out", str(tmp_path / "run")]) == 2
    assert "`textgan data get seqgan-oracle`" in one_error_line(capsys)
    assert main(["train", "mle_oracle", "--out", str(tmp_path / "run2"), "--set",
                 "data.oracle=seqgan-oracel"]) == 2
    assert "did you mean the data set seqgan-oracle?" in one_error_line(capsys)


def test_data_list_names_every_set_and_where_it_is(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DATASETS)
    assert "present (bundled" in out and "absent: `textgan data get seqgan-oracle`" in out
