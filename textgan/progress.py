"""Progress bars for long work outside the training loop (FED's embedding, sampling, temperature sweeps, the
scoring LMs, the digit classifier). On stderr, and only where someone watches: shown when stderr is
a terminal, or always with TEXTGAN_PROGRESS=1; TEXTGAN_PROGRESS=0 turns every bar off."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def progress_enabled() -> bool:
    setting = os.environ.get("TEXTGAN_PROGRESS", "")
    if setting in ("0", "1"):
        return setting == "1"
    return sys.stderr.isatty()


def progress_bar(total: int, desc: str, unit: str = "it") -> Any:
    """A tqdm bar on stderr (a no-op bar when progress is off); use as a context manager."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True, file=sys.stderr,
                disable=not progress_enabled())


def progress(items: Sequence[T], desc: str, unit: str = "it") -> Iterator[T]:
    """`items` one by one, with a bar while progress is shown."""
    with progress_bar(len(items), desc, unit) as bar:
        for item in items:
            yield item
            bar.update()
