"""A :class:`~mce_data.sample.MultiModalDataset` over tensors already in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mce_data.mask_checks import check_ids
from mce_data.sample import Sample


class TensorMultiModalDataset(Dataset[Sample]):
    """Wrap in-memory tensors (your own features, a toy problem) as a multi-modal dataset.

    Args:
        sample_ids: ``N`` unique ids.
        inputs: modality name -> ``Float[N, ...]``; the dict order is the modality order.
        target: ``[N, ...]`` targets.
        available: optional ``Bool[N, M]``: whether the source has each modality (default all ``True``);
            unavailable inputs are returned as zeros.

    >>> data = TensorMultiModalDataset(["a", "b"], {"x": torch.ones(2, 3), "y": torch.ones(2, 1)}, torch.tensor([0, 1]))
    >>> data.modalities, len(data), data[1].id, data[1].target.item()
    (('x', 'y'), 2, 'b', 1)
    """

    def __init__(
        self,
        sample_ids: Sequence[str],
        inputs: Mapping[str, Tensor],
        target: Tensor,
        available: Tensor | None = None,
    ) -> None:
        self._ids = check_ids(sample_ids)
        n = len(self._ids)
        if not inputs:
            raise ValueError("inputs must name at least one modality")
        for name, tensor in inputs.items():
            if not isinstance(tensor, Tensor) or tensor.ndim < 1 or tensor.shape[0] != n:
                got = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
                raise ValueError(f"inputs[{name!r}] must be a tensor with {n} rows (one per id), got {got}")
        if target.ndim < 1 or target.shape[0] != n:
            raise ValueError(f"target must have {n} rows (one per id), got shape {tuple(target.shape)}")
        self.modalities: tuple[str, ...] = tuple(inputs)
        shape = (n, len(self.modalities))
        if available is None:
            available = torch.ones(shape, dtype=torch.bool)
        if available.dtype != torch.bool or tuple(available.shape) != shape:
            raise ValueError(f"available must be Bool{list(shape)}, got {available.dtype} {tuple(available.shape)}")
        self._inputs = dict(inputs)
        self._target = target
        self._available = available
        self._available_rows = [tuple(row) for row in available.tolist()]  # Python bools, read per sample

    def __len__(self) -> int:
        return len(self._ids)

    def sample_ids(self) -> list[str]:
        """The ids, in index order."""
        return list(self._ids)

    def available_matrix(self) -> Tensor:
        """``Bool[N, M]``: the ``available`` given at construction (all ``True`` by default)."""
        return self._available.clone()

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        available: tuple[bool, ...] = self._available_rows[index]
        inputs = {
            name: tensor[index] if ok else torch.zeros_like(tensor[index])
            for (name, tensor), ok in zip(self._inputs.items(), available, strict=False)
        }
        return Sample(self._ids[index], inputs, available, self._target[index])

    def rows(self, indices: Tensor) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """Many samples at once, as :meth:`__getitem__` gives them one by one: ``(inputs, available, target)``.

        ``indices`` is ``Long[n]`` (in range; not checked here); ``inputs[name]`` is ``[n, ...]`` with zeros
        where the source lacks the modality, ``available`` ``Bool[n, M]``, ``target`` ``[n, ...]``. One tensor
        index per modality instead of ``n`` reads (:meth:`mce_data.incomplete.IncompleteDataset.__getitems__`).
        """
        available = self._available[indices]
        inputs = {
            name: zero_rows(tensor[indices], available[:, m]) for m, (name, tensor) in enumerate(self._inputs.items())
        }
        return inputs, available, self._target[indices]


def zero_rows(rows: Tensor, keep: Tensor) -> Tensor:
    """``rows`` (``[n, ...]``) with the rows outside ``keep`` (``Bool[n]``) exactly zero (``zeros_like``'s +0)."""
    if bool(keep.all()):
        return rows
    return torch.where(keep.reshape(-1, *([1] * (rows.dim() - 1))), rows, torch.zeros((), dtype=rows.dtype))
