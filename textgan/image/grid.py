"""Sample grids: a batch of images in [-1, 1] tiled into one picture and saved as PNG atomically."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from textgan.storage import atomic_save_figure


def make_grid(images: torch.Tensor, pad: int = 2) -> np.ndarray:
    """(n, c, h, w) in [-1, 1] -> uint8 (H, W) or (H, W, 3): a near-square tiling with `pad` px of
    white between tiles. Written here rather than taken from torchvision, which is not a dependency."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    n, c, h, w = x.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    canvas = np.full((c, rows * (h + pad) + pad, cols * (w + pad) + pad), 255, dtype=np.uint8)
    for i in range(n):
        top, left = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        canvas[:, top : top + h, left : left + w] = x[i]
    return canvas[0] if c == 1 else canvas.transpose(1, 2, 0)


def save_grid(images: torch.Tensor, path: Path, title: str) -> None:
    """Tile `images` and save them with a title as PNG (through a temporary file and a rename)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = make_grid(images)
    height, width = grid.shape[:2]
    scale = max(1.0, 480 / max(height, width))
    fig, ax = plt.subplots(figsize=(width * scale / 100, height * scale / 100 + 0.3), dpi=100)
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    atomic_save_figure(fig, path)
    plt.close(fig)
