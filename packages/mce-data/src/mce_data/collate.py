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
        inputs: modality -> ``[N, *shape]``; the variable-length modalities (the dataset's
            ``sequence_modalities``), ``[T_i, D]`` per item, are zero-padded along their first dim to
            ``[N, max(1, max T_i over present items), D]``; missing modalities are zeros.
        lengths: modality -> ``Long[N]``, each item's size along its first input dim (1 for scalars),
            given for every modality, and ``0`` for every missing modality (missing by the mask or in the
            source alike), so a missing modality's real length never leaks. Encode only present rows:
            a 0-length row has no valid step.
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


def _stack_modality(
    name: str, tensors: Sequence[Tensor], ids: Sequence[str], present: Tensor, sequence: bool
) -> tuple[Tensor, Tensor]:
    """Stack one modality (zero-padding along dim 0 if it is a sequence); also return the lengths (0 where missing)."""
    first = tensors[0]
    sizes = [t.shape[0] if t.ndim else 1 for t in tensors]
    lengths = torch.tensor(sizes, dtype=torch.long) * present.long()
    if not sequence:
        if any(t.shape != first.shape or t.dtype != first.dtype for t in tensors):
            groups: dict[str, list[str]] = {}
            for sid, t in zip(ids, tensors, strict=True):
                groups.setdefault(f"{t.dtype} {tuple(t.shape)}", []).append(sid)
            listing = "; ".join(f"{shape}: {sids[:3]}" for shape, sids in groups.items())
            raise ValueError(
                f"modality {name!r}: samples in one batch have different shapes ({listing}); only the dataset's "
                f"sequence_modalities are padded"
            )
        return torch.stack(list(tensors)), lengths
    for sid, tensor in zip(ids, tensors, strict=True):
        if tensor.ndim == 0 or tensor.shape[1:] != first.shape[1:] or tensor.dtype != first.dtype:
            raise ValueError(
                f"{name}: sample {sid!r} has {tensor.dtype} {tuple(tensor.shape)} but sample {ids[0]!r} has "
                f"{first.dtype} {tuple(first.shape)}; only the first (sequence) dim may differ within a batch"
            )
    longest = max(1, int(lengths.max()))
    out = first.new_zeros((len(tensors), longest, *first.shape[1:]))
    for row, (tensor, length) in enumerate(zip(tensors, lengths.tolist(), strict=True)):
        out[row, :length] = tensor[:length]
    return out, lengths


def _stack_same(what: str, tensors: Sequence[Tensor], ids: Sequence[str]) -> Tensor:
    for sid, tensor in zip(ids, tensors, strict=False):
        if tensor.shape != tensors[0].shape:
            raise ValueError(
                f"{what}: sample {sid!r} has shape {tuple(tensor.shape)} but sample {ids[0]!r} has "
                f"{tuple(tensors[0].shape)}"
            )
    return torch.stack(list(tensors))


def collate_incomplete(items: Sequence[IncompleteSample] | Batch) -> Batch:
    """Stack :class:`IncompleteSample` items into a :class:`Batch` (``DataLoader(collate_fn=collate_incomplete)``).

    Only the modalities named in the items' ``sequences`` are padded; any other shape mismatch is a
    ``ValueError`` naming the modality, the ids and the shapes.

    >>> from mce_data.incomplete import IncompleteSample
    >>> seq = frozenset({"x"})
    >>> a = IncompleteSample("a", {"x": torch.ones(3, 2)}, torch.tensor([True]), torch.tensor(0), sequences=seq)
    >>> b = IncompleteSample("b", {"x": torch.ones(1, 2)}, torch.tensor([True]), torch.tensor(1), sequences=seq)
    >>> batch = collate_incomplete([a, b])
    >>> batch.ids, tuple(batch.inputs["x"].shape), batch.lengths["x"].tolist(), batch.present.shape
    (['a', 'b'], (2, 3, 2), [3, 1], torch.Size([2, 1]))
    """
    if isinstance(items, Batch):  # already stacked by IncompleteDataset.__getitems__ (the DataLoader's batched fetch)
        return items
    if not items:
        raise ValueError("cannot collate an empty list of samples")
    if not all(isinstance(item, IncompleteSample) for item in items):
        kinds = sorted({type(item).__name__ for item in items})
        raise TypeError(f"collate_incomplete expects IncompleteSample items (from IncompleteDataset), got {kinds}")
    ids = [item.id for item in items]
    names = list(items[0].inputs)
    sequences = {item.sequences for item in items}
    if len(sequences) > 1:
        raise ValueError(f"samples disagree on the sequence modalities: {sorted(sorted(s) for s in sequences)}")
    present = _stack_same("present", [item.present for item in items], ids)
    if present.ndim != 2 or present.shape[1] != len(names):
        raise ValueError(f"present must be Bool[M] with one entry per input ({names}), got {tuple(present.shape[1:])}")
    inputs: dict[str, Tensor] = {}
    lengths: dict[str, Tensor] = {}
    for m, name in enumerate(names):
        if any(name not in item.inputs for item in items):
            raise ValueError(f"modality {name!r} is absent from some samples' inputs")
        inputs[name], lengths[name] = _stack_modality(
            name, [item.inputs[name] for item in items], ids, present[:, m], name in items[0].sequences
        )
    target = _stack_same("target", [item.target for item in items], ids)
    extras: dict[str, Tensor] = {}
    keys = {frozenset(item.extras or {}) for item in items}
    if len(keys) > 1:
        raise ValueError(f"samples carry different extras: {sorted(sorted(k) for k in keys)}")
    for key in sorted(next(iter(keys))):
        extras[key] = _stack_same(f"extras[{key!r}]", [item.extras[key] for item in items if item.extras], ids)
    return Batch(ids, inputs, lengths, present, target, extras)
