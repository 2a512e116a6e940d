"""Values kept by int64 key, sorted so lookups are one ``searchsorted``; no key is stored twice."""

from __future__ import annotations

import torch
from torch import Tensor


class SortedTable:
    """An append-only table of float64 rows keyed by int64, on one device.

    Args:
        row_shape: the shape of each stored value (``()`` for scalars, ``(N,)`` for a row).
        device: where keys and values live.

    >>> table = SortedTable((), torch.device("cpu"))
    >>> table.add(torch.tensor([5, 2]), torch.tensor([50.0, 20.0]))
    >>> table.missing(torch.tensor([2, 3, 5]))
    tensor([3])
    >>> table.values[table.index(torch.tensor([5, 2, 5]))].tolist()
    [50.0, 20.0, 50.0]
    """

    def __init__(self, row_shape: tuple[int, ...], device: torch.device) -> None:
        self.keys = torch.zeros(0, dtype=torch.long, device=device)
        self.values = torch.zeros((0, *row_shape), dtype=torch.float64, device=device)

    def missing(self, keys: Tensor) -> Tensor:
        """The keys of ``keys`` (sorted, unique ``Long[U]``) that the table does not hold yet."""
        if not self.keys.numel():
            return keys
        position = torch.searchsorted(self.keys, keys).clamp(max=self.keys.numel() - 1)
        return keys[self.keys[position] != keys]

    def add(self, keys: Tensor, values: Tensor) -> None:
        """Store ``values`` (``[K, *row_shape]``, cast to float64) under new ``keys`` (``Long[K]``)."""
        self.keys, order = torch.sort(torch.cat([self.keys, keys]))
        self.values = torch.cat([self.values, values.double()])[order]

    def index(self, keys: Tensor) -> Tensor:
        """``Long[...]``: the row of each held key in :attr:`values` (any shape)."""
        return torch.searchsorted(self.keys, keys)
