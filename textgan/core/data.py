"""Deterministic, resumable minibatches over an in-memory tensor data set."""

from __future__ import annotations

import torch
from torch import Tensor

from textgan.core.distributed import shard_rows


class ShuffledBatches:
    """Endless minibatches drawn without replacement, one fresh permutation per epoch.

    The permutation of epoch e comes from a generator seeded with (seed, e), so the whole data order
    is captured by `(epoch, position)`: that pair is all a checkpoint needs to resume bit-for-bit.
    `batch_size` is the global batch: under torchrun each rank gets its own rows of it, so the order
    does not depend on the number of processes and a run resumes with any number of them.
    """

    def __init__(self, data: Tensor, batch_size: int, seed: int) -> None:
        if len(data) < batch_size:
            raise ValueError(f"data set of {len(data)} items is smaller than the batch size {batch_size}")
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.data), generator=gen)

    def next(self) -> Tensor:
        """The next batch; the last incomplete batch of an epoch is dropped."""
        if self.position + self.batch_size > len(self.data):
            self.epoch += 1
            self.position = 0
            self._order = self._permutation(self.epoch)
        index = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.data[shard_rows(index)]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._order = self._permutation(self.epoch)
