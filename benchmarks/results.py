"""Where benchmark figures go: a dated section appended to benchmarks/RESULTS.md, headed by the
machine and library versions they were measured with."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
from collections.abc import Iterable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """One line describing where the figures were measured."""
    import numpy as np

    parts = [
        f"{platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"Python {platform.python_version()}, numpy {np.__version__}",
    ]
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        parts.append(f"torch {torch.__version__} ({device})")
    except ImportError:
        pass
    try:
        import nltk

        parts.append(f"nltk {nltk.__version__}")
    except ImportError:
        pass
    return "; ".join(parts)


def record(title: str, body: str) -> None:
    """Append a dated markdown section to benchmarks/RESULTS.md."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nMeasured figures, appended by the scripts in benchmarks/; "
                           "never edited by hand.\n", encoding="utf-8")
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(f"\n## {title} ({stamp})\n\n{machine()}\n\n{body}\n")


def reproduction_parser(doc: str, recipes: Iterable[str]) -> argparse.ArgumentParser:
    """The options the reproduction scripts share: --quick, --device, --out, --only, --no-record."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU-sized schedules (see QUICK)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="folder for the run folders (default: a temporary folder)")
    parser.add_argument("--only", nargs="*", choices=tuple(recipes), help="run only these recipes")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    return parser
