"""Collate :class:`~mce_data.incomplete.IncompleteSample` items into a :class:`Batch` (DataLoader ``collate_fn``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mce_data.incomplete import IncompleteSample


@dataclass(frozen=True)
class Batch:
    """``N`` incomplete samples, stacked.

    Attributes:
        ids: the ``N`` sample ids, in batch order.
        inputs: modality -> ``[N, *shape]``; variable-length sequences ``[T_i, D]`` are zero-padded
            along their first dim to ``[N, max T_i, D]``; missing modalities are zeros.
        lengths: modality -> ``Long[N]``, each item's size along its first input dim before padding
            (given for every modality, so it does not depend on which items share a batch).
        present: ``Bool[N, M]`` in the dataset's modality order.
        target: the stacked targets ``[N, ...]``.
        extras: name -> stacked extras ``[N, ...]`` (empty when the samples have none).
    """

    ids: list[str]
    inputs: dict[str, Tensor]
    lengths: dict[str, Tensor]
    present: Tensor
    target: Tensor
    extras: dict[str, Tensor]

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on ``device``."""

        def move(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
            return {k: v.to(device, non_blocking=non_blocking) for k, v in tensors.items()}

        return Batch(
            ids=list(self.ids),
            inputs=move(self.inputs),
            lengths=move(self.lengths),
            present=self.present.to(device, non_blocking=non_blocking),
            target=self.target.to(device, non_blocking=non_blocking),
            extras=move(self.extras),
        )

    def pin_memory(self) -> Batch:
        """A copy in pinned host memory (called by ``DataLoader(pin_memory=True)``)."""

        def pin(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
            return {k: v.pin_memory() for k, v in tensors.items()}

        return Batch(
            list(self.ids), pin(self.inputs), pin(self.lengths), self.present.pin_memory(),
            self.target.pin_memory(), pin(self.extras),
        )  # fmt: skip


def _stack_padded(name: str, tensors: Sequence[Tensor], ids: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Stack, zero-padding along dim 0 when only that dim differs; also return the dim-0 sizes."""
    first = tensors[0]
    if first.ndim == 0:
        return torch.stack(list(tensors)), torch.ones(len(tensors), dtype=torch.long)
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.long)
    if all(t.shape == first.shape and t.dtype == first.dtype for t in tensors):
        return torch.stack(list(tensors)), lengths
    for sid, tensor in zip(ids, tensors, strict=False):
        if tensor.shape[1:] != first.shape[1:] or tensor.dtype != first.dtype:
            raise ValueError(
                f"{name}: sample {sid!r} has {tensor.dtype} {tuple(tensor.shape)} but sample {ids[0]!r} has "
                f"{first.dtype} {tuple(first.shape)}; only the first (sequence) dim may differ within a batch"
            )
    longest = int(lengths.max())
    out = first.new_zeros((len(tensors), longest, *first.shape[1:]))
    for row, tensor in enumerate(tensors):
        out[row, : tensor.shape[0]] = tensor
    return out, lengths


def _stack_same(what: str, tensors: Sequence[Tensor], ids: Sequence[str]) -> Tensor:
    for sid, tensor in zip(ids, tensors, strict=False):
        if tensor.shape != tensors[0].shape:
            raise ValueError(
                f"{what}: sample {sid!r} has shape {tuple(tensor.shape)} but sample {ids[0]!r} has "
                f"{tuple(tensors[0].shape)}"
            )
    return torch.stack(list(tensors))


def collate_incomplete(items: Sequence[IncompleteSample]) -> Batch:
    """Stack :class:`IncompleteSample` items into a :class:`Batch` (``DataLoader(collate_fn=collate_incomplete)``).

    >>> from mce_data.incomplete import IncompleteSample
    >>> a = IncompleteSample("a", {"x": torch.ones(3, 2)}, torch.tensor([True]), torch.tensor(0))
    >>> b = IncompleteSample("b", {"x": torch.ones(1, 2)}, torch.tensor([True]), torch.tensor(1))
    >>> batch = collate_incomplete([a, b])
    >>> batch.ids, tuple(batch.inputs["x"].shape), batch.lengths["x"].tolist(), batch.present.shape
    (['a', 'b'], (2, 3, 2), [3, 1], torch.Size([2, 1]))
    """
    if not items:
        raise ValueError("cannot collate an empty list of samples")
    if not all(isinstance(item, IncompleteSample) for item in items):
        kinds = sorted({type(item).__name__ for item in items})
        raise TypeError(f"collate_incomplete expects IncompleteSample items (from IncompleteDataset), got {kinds}")
    ids = [item.id for item in items]
    names = list(items[0].inputs)
    inputs: dict[str, Tensor] = {}
    lengths: dict[str, Tensor] = {}
    for name in names:
        if any(name not in item.inputs for item in items):
            raise ValueError(f"modality {name!r} is absent from some samples' inputs")
        inputs[name], lengths[name] = _stack_padded(name, [item.inputs[name] for item in items], ids)
    present = _stack_same("present", [item.present for item in items], ids)
    target = _stack_same("target", [item.target for item in items], ids)
    extras: dict[str, Tensor] = {}
    keys = {frozenset(item.extras or {}) for item in items}
    if len(keys) > 1:
        raise ValueError(f"samples carry different extras: {sorted(sorted(k) for k in keys)}")
    for key in sorted(next(iter(keys))):
        extras[key] = _stack_same(f"extras[{key!r}]", [item.extras[key] for item in items if item.extras], ids)
    return Batch(ids, inputs, lengths, present, target, extras)
