"""Resumable, rank-aware batch order: the same seed gives the same batches, from any step.

A killed run restarts at step ``k`` without replaying the data: the order of epoch ``e`` is a
permutation drawn from a generator seeded with ``(seed, e)``, so batch ``k`` can be found
directly. Under DDP each rank takes every ``world``-th sample of the global batch, so the
ranks together see exactly the global batch a single process would see.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class StepBatches(Sampler[list[int]]):
    """Yields the dataset indices of global steps ``start, start+1, ..., steps-1`` for one rank.

    Args:
        n_samples: dataset length.
        batch_size: the global batch size (all ranks together).
        steps: the step to stop before.
        seed: the shuffle seed.
        start: the first step to yield (resume).
        rank, world: this process and the number of processes; ``batch_size`` must divide by ``world``.

    Incomplete last batches of an epoch are dropped (every step sees ``batch_size`` samples).

    >>> list(StepBatches(6, 3, steps=2, seed=0)) == list(StepBatches(6, 3, steps=4, seed=0))[:2]
    True
    """

    def __init__(
        self, n_samples: int, batch_size: int, *, steps: int, seed: int, start: int = 0, rank: int = 0, world: int = 1
    ) -> None:
        if batch_size > n_samples:
            raise ValueError(f"batch_size must be <= the number of samples ({n_samples}); got {batch_size}")
        if batch_size % world:
            raise ValueError(f"the global batch size must divide by the world size {world}; got {batch_size}")
        self.n_samples, self.batch_size, self.steps, self.seed = n_samples, batch_size, steps, seed
        self.start, self.rank, self.world = start, rank, world
        self.per_epoch = n_samples // batch_size

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n_samples, generator=generator)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, order = -1, torch.empty(0, dtype=torch.long)
        for step in range(self.start, self.steps):
            if step // self.per_epoch != epoch:
                epoch = step // self.per_epoch
                order = self._epoch_order(epoch)
            offset = (step % self.per_epoch) * self.batch_size
            batch = order[offset : offset + self.batch_size]
            yield batch[self.rank :: self.world].tolist()

    def __len__(self) -> int:
        return max(0, self.steps - self.start)
