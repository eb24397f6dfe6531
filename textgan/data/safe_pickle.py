"""Read a pickle of numpy arrays without running anything else it asks for.

`pickle.load` calls whatever global a file names (`os.system` included), so a downloaded pickle is
read here through an unpickler that admits the numpy names an array pickle needs (the array and
dtype types and the two array constructors, under numpy 1's and numpy 2's module names) and refuses
every other global before it is looked up.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

try:  # numpy >= 2 keeps the array constructors in numpy._core; pickles from numpy 1 name numpy.core
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer

ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,  # protocol 5's out-of-band array buffers
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler whose only globals are numpy's array constructors."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: only numpy arrays "
                                         "are admitted") from None


def load_numpy_pickle(path: str | Path) -> Any:
    """The object in a pickle that holds only numpy arrays (and lists, tuples, dicts of them)."""
    return NumpyOnlyUnpickler(io.BytesIO(Path(path).read_bytes()), encoding="latin1").load()
