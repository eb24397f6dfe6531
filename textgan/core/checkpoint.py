"""Checkpoints that resume a run bit-for-bit.

A checkpoint is written atomically (`textgan.storage.atomic_torch_save`: a temporary file renamed
over the target, so a killed process never leaves a half-written one). Checkpoints load with
`torch.load(weights_only=True)`: they hold only tensors and plain Python data, and a digest of all
of it, so a file damaged after it was written is refused even where torch can still parse it.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from textgan.errors import UserError
from textgan.storage import atomic_torch_save

FORMAT_VERSION = 1


def rng_state() -> dict[str, Any]:
    """The states of Python's, NumPy's and torch's global generators, as weights-only-safe data."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "python": [version, list(internal), gauss_next],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def state_digest(state: Any) -> str:
    """sha256 over a checkpoint's contents: every tensor's dtype, shape and bytes and every other
    value's repr, dictionaries in key order."""
    h = hashlib.sha256()

    def walk(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().reshape(-1)
            h.update(f"T{t.dtype}{tuple(x.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
        elif isinstance(x, dict):
            h.update(b"{")
            for key in sorted(x, key=repr):
                h.update(repr(key).encode())
                walk(x[key])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for value in x:
                walk(value)
            h.update(b"]")
        else:
            h.update(repr(x).encode())

    walk(state)
    return h.hexdigest()


def save_checkpoint(path: Path, state: dict[str, Any], signature: dict[str, Any]) -> None:
    """Save a training state with the signature that a resuming run must match and its digest."""
    payload = dict(state, format=FORMAT_VERSION, signature=json.dumps(signature, sort_keys=True))
    payload["digest"] = state_digest(payload)
    atomic_torch_save(payload, path)


def load_weights_only(path: Path, what: str) -> Any:
    """`torch.load(weights_only=True)` to the CPU; UserError naming `what` if missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt or foreign files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "weights_only" in first or "Weights only" in first:  # torch's advice to load unsafely: not ours
            first = "it holds more than tensors and plain data, or is damaged"
        raise UserError(f"cannot read {what} {path}: {first}") from None


M = TypeVar("M", bound=torch.nn.Module)


def cached_training(path: Path, key: str, what: str, model: M,
                    train: Callable[[], tuple[M, float]]) -> tuple[M, float]:
    """A trained module and its accuracy, from the cache file `path` into `model` when it reads, else
    from `train()` (then saved there atomically). An unreadable cache file, or one the cache folder
    cannot take, is a warning: the module is trained (again) instead."""
    if path.is_file():
        try:
            saved = load_weights_only(path, f"cached {what}")
            model.load_state_dict(saved["state_dict"])
            return model.eval(), float(saved["accuracy"])
        except (UserError, RuntimeError, KeyError, TypeError) as exc:
            print(f"warning: ignoring unreadable classifier cache {path}: {str(exc).splitlines()[0]}",
                  file=sys.stderr)
    model, acc = train()
    try:
        atomic_torch_save({"state_dict": model.state_dict(), "accuracy": acc, "key": key}, path)
    except OSError as exc:
        print(f"warning: cannot cache the {what} in {path.parent}: {exc.strerror}", file=sys.stderr)
    return model, acc


def load_checkpoint(path: Path, signature: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load a checkpoint; refuse (UserError) one that is unreadable or whose signature differs."""
    state = load_weights_only(path, "checkpoint")
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise UserError(f"{path} is not a textgan checkpoint (format {FORMAT_VERSION})")
    digest = state.pop("digest", None)
    if digest is not None and digest != state_digest(state):
        raise UserError(f"checkpoint {path} is damaged: its contents no longer match the digest "
                        "saved with it")
    if signature is not None:
        saved = json.loads(state["signature"])
        wanted = json.loads(json.dumps(signature, sort_keys=True))
        if saved != wanted:
            raise UserError(f"checkpoint {path} comes from an incompatible run: "
                            f"{first_difference(saved, wanted)}")
    return state


def first_difference(saved: Any, wanted: Any, where: str = "") -> str:
    """Where two signatures first differ, as `key.path is X in the checkpoint but Y now`."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        for key in sorted(set(saved) | set(wanted)):
            if saved.get(key) != wanted.get(key):
                return first_difference(saved.get(key), wanted.get(key), f"{where}.{key}" if where else key)
    return f"{where or 'value'} is {saved!r} in the checkpoint but {wanted!r} now"


def non_finite_tensors(state: dict[str, Any],
                       parts: tuple[str, ...] = ("generator", "discriminator", "ema")) -> list[str]:
    """Names of the floating-point tensors in `state[part]` that hold NaN or inf (a checkpoint with
    any is never written)."""
    bad = []
    for part in parts:
        for name, value in _tensors(state.get(part), part):
            if value.is_floating_point() and not torch.isfinite(value).all():
                bad.append(name)
    return bad


def _tensors(obj: Any, prefix: str) -> list[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        return [(prefix, obj)]
    if isinstance(obj, dict):
        return [t for k, v in obj.items() for t in _tensors(v, f"{prefix}.{k}")]
    return []
