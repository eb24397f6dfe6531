"""The one on-disk cache of textgan, shared by the compiled CPU kernels, the data sets, the domain
classifiers and the weights look-up, so that a user clears or moves a single folder.

`$TEXTGAN_CACHE` if set, else `$XDG_CACHE_HOME/textgan`, else `~/.cache/textgan`.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The root of textgan's cache (not created here: each user makes its own subfolder)."""
    if os.environ.get("TEXTGAN_CACHE"):
        return Path(os.environ["TEXTGAN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "textgan"
