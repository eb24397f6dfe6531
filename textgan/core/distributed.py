"""Data-parallel training through `torch.distributed`, started by `torchrun`.

`torchrun --nproc_per_node N -m textgan train RECIPE` sets RANK/WORLD_SIZE/LOCAL_RANK; `setup()`
joins the process group (NCCL on CUDA, gloo on CPU). Every rank holds the same G and D, trains on
its own rows of each global batch (`train.batch_size` stays the global batch), and averages
gradients with one all-reduce per network after each backward pass, so the update equals the
single-process one on the global batch.

Why gradients are averaged here rather than by wrapping the networks in `DistributedDataParallel`:
a GAN step runs D inside G's backward pass with D frozen, and WGAN-GP / R1 differentiate through
D's input gradients (double backward), neither of which DDP's reducer supports. The all-reduce is
the same collective DDP issues; only the overlap with the backward pass is given up.

Batch norm keeps per-rank statistics (as DDP without SyncBatchNorm does).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from textgan.errors import UserError


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """True on the one process that writes logs, samples and checkpoints."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> torch.device:
    """Join the process group when started by torchrun; returns the device this rank uses (its own
    GPU on CUDA). A no-op for a single process."""
    if not launched_by_torchrun() or dist.is_initialized():
        return device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA "
                            "devices are visible")
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def local_batch_size(global_batch: int) -> int:
    """This rank's share of a global batch; the global batch must split evenly."""
    n = world_size()
    if global_batch % n:
        raise UserError(f"train.batch_size {global_batch} does not split evenly over {n} processes")
    return global_batch // n


def shard_rows(batch: torch.Tensor) -> torch.Tensor:
    """This rank's rows of a global batch: rows rank, rank + N, ... (the whole batch alone)."""
    n = world_size()
    return batch if n == 1 else batch[rank()::n]


def average_gradients(module: nn.Module) -> None:
    """Average the gradients of `module` over all ranks with one all-reduce of a flat buffer."""
    if world_size() == 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank, so all start identical."""
    if world_size() == 1:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def _comm_device() -> torch.device:
    """Where small control tensors live: NCCL only moves CUDA tensors, gloo CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """The average of each number over ranks (every rank passes the same keys in the same order)."""
    if world_size() == 1 or not values:
        return values
    keys = list(values)
    flat = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(flat)
    return {k: v / world_size() for k, v in zip(keys, flat.tolist())}


def broadcast_flag(flag: bool) -> bool:
    """Rank 0's value of `flag` on every rank (e.g. rank 0's early-stopping decision)."""
    if world_size() == 1:
        return flag
    t = torch.tensor([int(flag)], device=_comm_device())
    dist.broadcast(t, src=0)
    return bool(t.item())


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
