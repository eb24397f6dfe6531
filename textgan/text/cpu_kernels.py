"""Compiled CPU kernels (`cpu_kernels.c`) for the two passes over (rows, vocabulary) logits that
take much of a text-GAN step on a CPU: drawing tokens, and softmax cross-entropy.

Why by hand: torch has no fused form of either. Its softmax, cumulative sum and search read each row
three times to draw a token, and its log-softmax, NLL and their backward passes four. The kernels
read a row once from memory and do the rest in the cache, with glibc's vector `expf`, cheaper per
element than torch's `exp`. What they save per step is in benchmarks/RESULTS.md (bench_train).

They are built on first use with the system C compiler (`$CC`, else `cc`) into the user cache
(`textgan.storage.cache_root`), one file per source, flags and CPU, and
checked against torch before they are used. Without a compiler, or with `TEXTGAN_TORCH_ONLY=1`,
torch's ops do the same work; `status()` says which."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from textgan.storage import cache_root

SOURCE = Path(__file__).with_name("cpu_kernels.c")
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", "-shared", "-fPIC")
_status = "not loaded yet"


def status() -> str:
    """What draws tokens and computes cross-entropy on the CPU: the compiled kernels (and their file) or
    torch's ops (and why)."""
    _library()
    return _status


def draw(logits: Tensor, u: Tensor, bias: Tensor | None = None, scale: float = 1.0) -> Tensor | None:
    """Tokens (rows, n) drawn from softmax((logits + bias) * scale) (rows, V) by the uniforms u (rows, n),
    as torch's inverse CDF would; None when the kernel cannot take these tensors (not float32 on the
    CPU) or is not available. The bias (V,) and scale are applied on the fly: no (rows, V) copy."""
    lib = _kernels_for(logits, u, bias)
    return None if lib is None else _run(lib, logits, u, bias, scale)


def linear_cross_entropy(features: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor) -> Tensor:
    """Per-row cross-entropy (N,) of the logits `features @ weight.T + bias` (features (N, H), weight
    (V, H), bias (V,) or None) against `targets` (N,): `F.cross_entropy(F.linear(...), targets,
    reduction="none")`, differentiable in features, weight and bias. Float32 on the CPU it runs the
    kernel: the (N, V) logits become the softmax in place, and the backward pass scales it."""
    if _kernels_for(features, weight, bias) is None:
        return F.cross_entropy(F.linear(features, weight, bias), targets, reduction="none")
    if len(targets) and not 0 <= int(targets.min()) <= int(targets.max()) < len(weight):
        raise IndexError(f"a target is outside the vocabulary of {len(weight)} tokens")
    return _LinearCrossEntropy.apply(features, weight, bias, targets)


def _kernels_for(matrix: Tensor, *others: Tensor | None) -> ctypes.CDLL | None:
    """The kernels, when they are available and take these tensors: a 2-D matrix and the others
    (None: absent), all float32 on the CPU."""
    lib = _library()
    tensors = [matrix, *(t for t in others if t is not None)]
    if lib is None or matrix.dim() != 2 or any(t.device.type != "cpu" or t.dtype != torch.float32
                                               for t in tensors):
        return None
    return lib


class _LinearCrossEntropy(torch.autograd.Function):
    """`linear_cross_entropy` on the kernel; its gradient in the logits is (softmax - one-hot) * grad."""

    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor) -> Tensor:
        probs = features @ weight.t()
        rows, vocab = probs.shape
        targets = targets.to(torch.long).contiguous()
        shift = probs.new_zeros(vocab) if bias is None else bias.detach().contiguous()
        losses = probs.new_empty(rows)
        _library().textgan_softmax_xent(probs.data_ptr(), shift.data_ptr(), targets.data_ptr(), rows, vocab,
                                        losses.data_ptr(), torch.get_num_threads())
        ctx.save_for_backward(probs, features, weight, targets)
        ctx.has_bias = bias is not None
        return losses

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_losses: Tensor) -> tuple[Tensor | None, ...]:
        probs, features, weight, targets = ctx.saved_tensors
        grad_logits = probs * grad_losses[:, None]
        grad_logits[torch.arange(len(targets)), targets] -= grad_losses
        wants = ctx.needs_input_grad
        return (grad_logits @ weight if wants[0] else None, grad_logits.t() @ features if wants[1] else None,
                grad_logits.sum(0) if ctx.has_bias and wants[2] else None, None)


def _run(lib: ctypes.CDLL, logits: Tensor, u: Tensor,
         bias: Tensor | None = None, scale: float = 1.0) -> Tensor:
    logits, u = logits.detach().contiguous(), u.detach().contiguous()
    rows, vocab = logits.shape
    bias = logits.new_zeros(vocab) if bias is None else bias.detach().contiguous()
    out = torch.empty(rows, u.shape[1], dtype=torch.long)
    lib.textgan_draw(logits.data_ptr(), bias.data_ptr(), scale, rows, vocab, u.data_ptr(), u.shape[1],
                     out.data_ptr(), torch.get_num_threads())
    return out


def _cpu_flags() -> str:
    try:
        return next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("flags")), "")
    except OSError:
        return platform.processor()


def _build(compiler: str) -> Path:
    """The shared library for this source, flags, compiler and CPU, compiled unless cached. The file
    appears atomically, so processes starting together (torchrun ranks) never load half of one."""
    key = hashlib.sha256("\0".join([SOURCE.read_text(), *FLAGS,
                                    compiler, _cpu_flags()]).encode()).hexdigest()[:16]
    target = cache_root() / f"cpu_kernels-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    try:
        subprocess.run([compiler, *FLAGS, "-o", tmp, str(SOURCE), "-lm"], check=True,
                       capture_output=True, timeout=120)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def _agrees_with_torch(lib: ctypes.CDLL) -> bool:
    """On a small random case the kernels agree with torch: the draws never take a token without
    mass and equal torch's inverse CDF for the same uniforms (but for at most 2 of 192 draws, rounding
    at a boundary), and the cross-entropies and softmax match to float32 rounding."""
    gen = torch.Generator().manual_seed(0)
    logits, bias = torch.randn(64, 300, generator=gen), torch.randn(300, generator=gen)
    logits[:, ::7] = float("-inf")  # tokens with no mass (as top-k leaves) must never be drawn
    u = torch.rand(64, 3, generator=gen)
    cdf = torch.softmax((logits + bias) * 3, -1).cumsum(-1)
    expected = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)
    drawn = _run(lib, logits, u, bias, 3.0)
    draws_agree = bool(torch.isfinite(logits.gather(1, drawn)).all()) and int((drawn != expected).sum()) <= 2
    probs, targets, losses = (torch.randn(64, 300, generator=gen), torch.randint(300, (64,), generator=gen),
                              torch.empty(64))
    expected_losses = F.cross_entropy(probs + bias, targets, reduction="none")
    expected_probs = torch.softmax(probs + bias, -1)
    lib.textgan_softmax_xent(probs.data_ptr(), bias.data_ptr(), targets.data_ptr(), 64, 300,
                             losses.data_ptr(), 1)
    return (draws_agree and torch.allclose(losses, expected_losses, rtol=1e-5, atol=1e-5)
            and torch.allclose(probs, expected_probs, rtol=1e-5, atol=1e-7))


@functools.cache
def _library() -> ctypes.CDLL | None:
    global _status
    if os.environ.get("TEXTGAN_TORCH_ONLY", "") not in ("", "0"):
        _status = "torch's ops (TEXTGAN_TORCH_ONLY is set)"
        return None
    compiler = shutil.which(os.environ.get("CC") or "cc")
    if compiler is None:
        _status = "torch's ops (no C compiler: set CC or install gcc for the faster kernels)"
        return None
    try:
        path = _build(compiler)
        lib = ctypes.CDLL(str(path))
    except (OSError, subprocess.SubprocessError) as exc:
        detail = (exc.stderr.decode(errors="replace").strip().splitlines()[-1:]
                  if getattr(exc, "stderr", None) else [str(exc)])
        _status = f"torch's ops (the kernels did not build or load: {' '.join(detail)})"
        return None
    lib.textgan_draw.restype = None
    lib.textgan_draw.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float, ctypes.c_int64,
                                 ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                                 ctypes.c_void_p, ctypes.c_int]
    lib.textgan_softmax_xent.restype = None
    lib.textgan_softmax_xent.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                         ctypes.c_int64, ctypes.c_void_p, ctypes.c_int]
    if not _agrees_with_torch(lib):
        _status = f"torch's ops (the kernels in {path} disagreed with torch)"
        return None
    _status = f"compiled kernels {path}"
    return lib
