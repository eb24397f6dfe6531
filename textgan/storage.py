"""Where textgan's files live and how they are written: the package's own folders, the one on-disk
cache, atomic writers, and the reading of data set folders written by `datasets`' `save_to_disk`.

Low level on purpose: it imports nothing else of textgan, and numpy, torch and `datasets` only inside
the functions that need them, so that any module (the recipe parser included) may use it.

Every file is written to a temporary name in the same folder and renamed over the target, so a
killed process never leaves a half-written file and never destroys the previous version. Files are
written with the usual permissions (0644 under the common umask), not the temporary file's private
0600.

The cache, shared by the compiled CPU kernels, the data sets, the domain classifiers and the weights
look-up so that a user clears or moves a single folder, is `$TEXTGAN_CACHE` if set, else
`$XDG_CACHE_HOME/textgan`, else `~/.cache/textgan`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

PACKAGE_ROOT = Path(__file__).resolve().parent  # the installed `textgan` package folder
RECIPES_DIR = PACKAGE_ROOT / "recipes"  # the bundled recipes (package data)

_UMASK = os.umask(0)
os.umask(_UMASK)


def cache_root() -> Path:
    """The root of textgan's cache (not created here: each user makes its own subfolder)."""
    if os.environ.get("TEXTGAN_CACHE"):
        return Path(os.environ["TEXTGAN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "textgan"


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see either the old or the new file, never a mix."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    _atomic_write(path, write)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """`torch.save` through a temporary file and a rename."""
    import torch

    _atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """`numpy.savez` (uncompressed) through a temporary file and a rename."""
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    _atomic_write(path, write)


def atomic_save_figure(fig: Any, path: Path) -> None:
    """Save a matplotlib figure as PNG through a temporary file and a rename."""
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


def is_saved_dataset(path: Path) -> bool:
    """Whether `path` is a folder written by `datasets`' `save_to_disk` (one split or several)."""
    return (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()


def load_saved_dataset(path: Path, split: str) -> Any:
    """The data set `save_to_disk` wrote to `path`: its `split` when the folder holds several. The
    errors of `datasets` pass through: each caller words its own message."""
    import datasets  # heavy import: only when a `datasets` corpus is asked for

    ds = datasets.load_from_disk(str(path))
    return ds[split] if isinstance(ds, datasets.DatasetDict) else ds
