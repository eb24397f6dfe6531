"""The `--device auto|cpu|cuda` choice every command offers, resolved once."""

from __future__ import annotations

import torch

from textgan.errors import UserError


def pick_device(choice: str) -> torch.device:
    """`auto` means CUDA when available; asking for CUDA without one is a user error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA device is available")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)
