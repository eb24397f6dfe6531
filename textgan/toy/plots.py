"""The toy game's evaluation picture: generated samples scattered over the mixture's centres."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from textgan.storage import atomic_save_figure


def sample_caption(m: dict[str, float]) -> str:
    """`N modes, P% high quality` from the game's mode metrics."""
    return f"{int(m['modes_covered'])} modes, {100 * m['high_quality_fraction']:.1f}% high quality"


def plot_samples(samples: np.ndarray, centres: np.ndarray, path: Path, title: str) -> None:
    """Scatter of generated samples over the true centres, saved as PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    span = math.ceil(float(np.abs(centres).max())) + 1
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue", label="samples")
    ax.scatter(centres[:, 0], centres[:, 1], s=40, marker="x", color="tab:red", label="centres")
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    atomic_save_figure(fig, path)
    plt.close(fig)
