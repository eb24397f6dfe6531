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


def keep_freed_cpu_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of handing it back to the kernel.

    A training step frees and re-allocates the same large tensors every step (a (1280, 5000) logits
    tensor is 26 MB). By default glibc returns such blocks to the kernel, so every step page-faults
    them in again, zero-filled, tens of megabytes per step. PyTorch's CPU
    tuning guide swaps in jemalloc or tcmalloc for this; three `mallopt` settings do it without
    another library: blocks up to 32 MB (glibc's largest mmap threshold) come from the heap, the heap
    grows 512 MB at a time (address space, not memory, until touched) and is never trimmed, so the
    process keeps its peak memory. Returns False, changing nothing, where glibc is absent.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    return all(mallopt(option, value) == 1 for option, value in
               ((m_mmap_threshold, 32 << 20), (m_top_pad, 512 << 20), (m_trim_threshold, 2**31 - 1)))
