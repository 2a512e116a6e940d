"""An incomplete view of a multi-modal dataset: each sample's modalities masked by a :class:`MissingMask`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mce_data.mask_checks import ids_digest, name_ids
from mce_data.masks import MissingMask
from mce_data.sample import MultiModalDataset, available_matrix, sequence_modalities
from mce_data.tensor_dataset import zero_rows

if TYPE_CHECKING:
    from mce_data.collate import Batch


@dataclass(frozen=True)
class IncompleteSample:
    """One sample as a model sees it: missing modalities are zero tensors and ``present`` says which.

    Attributes:
        id: the sample's id.
        inputs: modality -> tensor (zeros where ``present`` is ``False``; a missing variable-length
            modality is an empty ``[0, ...]`` tensor, so its real length does not leak); in the
            dataset's modality order (column order of ``present``).
        present: ``Bool[M]``, the mask's row AND the source's ``available``.
        target: the sample's target.
        extras: the base sample's extras (or ``None``).
        sequences: the variable-length modalities (the dataset's ``sequence_modalities``); only these
            are padded by :func:`~mce_data.collate.collate_incomplete`.
    """

    id: str
    inputs: dict[str, Tensor]
    present: Tensor
    target: Tensor
    extras: dict[str, Tensor] | None = None
    sequences: frozenset[str] = field(default_factory=frozenset)


class IncompleteDataset(Dataset[IncompleteSample]):
    """Mask a :class:`~mce_data.sample.MultiModalDataset` by id: the mask follows the sample, not the position.

    Args:
        base: the complete dataset.
        mask: a :class:`MissingMask` over ``base.sample_ids()`` with the same modalities. An
            ``all_missing="exclude"`` mask drawn for exactly ``base``'s ids drops the excluded samples;
            any other id mismatch is a ``ValueError``.

    Items are :class:`IncompleteSample`; ``present = mask[id] & sample.available``. When the base has
    ``available_matrix()`` (:mod:`mce_data.sample`), rows that would end all-missing (the source lacks
    every modality the mask keeps) are found up front: with a mask that keeps every id (``"swap"``,
    ``"redraw"``, or ``all_missing=None``: full, subset, per-class, hand-made) that is a ``ValueError``
    naming the ids (draw the mask with ``available=`` instead); with an ``"exclude"`` mask they are
    dropped like the mask's own exclusions (the paper's rule, Sec. 3.1). Without ``available_matrix()``, such a
    sample is a ``ValueError`` naming it when it is read. ``set_epoch`` is forwarded to the base (random crops).
    The dataset pickles (DataLoader workers) when ``base`` does, and indexing is deterministic.

    >>> from mce_data.tensor_dataset import TensorMultiModalDataset
    >>> base = TensorMultiModalDataset(["a", "b"], {"x": torch.ones(2, 3), "y": torch.ones(2, 2)}, torch.tensor([0, 1]))
    >>> mask = MissingMask.subset(base.sample_ids(), base.modalities, ["y"])
    >>> item = IncompleteDataset(base, mask)[0]
    >>> item.present.tolist(), item.inputs["x"].tolist()
    ([False, True], [0.0, 0.0, 0.0])
    """

    def __init__(self, base: MultiModalDataset, mask: MissingMask) -> None:
        if not isinstance(mask, MissingMask):
            raise TypeError(f"mask must be a MissingMask, got {type(mask).__name__}")
        modalities = tuple(base.modalities)
        if mask.modalities != modalities:
            raise ValueError(f"mask modalities {list(mask.modalities)} differ from the dataset's {list(modalities)}")
        base_ids = list(base.sample_ids())
        position = {sid: i for i, sid in enumerate(base_ids)}
        foreign = [sid for sid in mask.sample_ids if sid not in position]
        if foreign:
            raise ValueError(f"mask names {len(foreign)} id(s) the dataset does not have, e.g. {foreign[:3]}")
        if len(mask) != len(base_ids) and (mask.all_missing != "exclude" or mask.source_digest != ids_digest(base_ids)):
            lacking = [sid for sid in base_ids if sid not in mask][:3]
            raise ValueError(
                f"mask covers {len(mask)} of the dataset's {len(base_ids)} ids (missing e.g. {lacking}) and is "
                f"not an all_missing='exclude' mask drawn for this dataset"
            )
        self.base = base
        self.mask = mask
        self.modalities = modalities
        self.sequences = sequence_modalities(base) & frozenset(modalities)
        # Base positions of the kept samples, in base order, and their mask rows.
        positions = [position[sid] for sid in base_ids if sid in mask]
        present = mask.lookup([base_ids[p] for p in positions])
        available = available_matrix(base)
        if available is not None:
            present = present & available[positions]
            alive = present.any(dim=1)
            if not bool(alive.all()):
                dead = [base_ids[p] for p, ok in zip(positions, alive.tolist(), strict=True) if not ok]
                if mask.all_missing != "exclude":
                    raise ValueError(
                        f"{name_ids(dead)} end with every modality missing: the mask keeps only modalities their "
                        f"source lacks; draw the mask with MissingMask.generate(..., available=available_matrix(base)) "
                        f"or use all_missing='exclude'"
                    )
                positions = [p for p, ok in zip(positions, alive.tolist(), strict=True) if ok]
                present = present[alive]
        self._positions = positions
        self._ids = [base_ids[p] for p in positions]
        self._present = present
        self._present_rows = [tuple(row) for row in present.tolist()]  # Python bools, read per sample

    def __len__(self) -> int:
        return len(self._positions)

    def sample_ids(self) -> list[str]:
        """The ids of the kept samples, in index order."""
        return list(self._ids)

    def set_epoch(self, epoch: int) -> None:
        """Forward to ``base.set_epoch`` when the base has one (fresh random crops); otherwise nothing."""
        method = getattr(self.base, "set_epoch", None)
        if method is not None:
            method(epoch)

    def __getitem__(self, index: int) -> IncompleteSample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        sample = self.base[self._positions[index]]
        if sample.id != self._ids[index]:
            raise ValueError(
                f"base dataset returned id {sample.id!r} at position {self._positions[index]}, where sample_ids() "
                f"lists {self._ids[index]!r}; the mask would follow the wrong sample"
            )
        if len(sample.available) != len(self.modalities) or set(sample.inputs) != set(self.modalities):
            raise ValueError(
                f"sample {sample.id!r}: inputs {sorted(sample.inputs)} / available {sample.available} do not match "
                f"modalities {list(self.modalities)}"
            )
        keeps = tuple(a and b for a, b in zip(self._present_rows[index], sample.available, strict=True))
        if not any(keeps):
            raise ValueError(
                f"sample {sample.id!r} ends with every modality missing (mask {self._present[index].tolist()}, source "
                f"available {list(sample.available)}); draw the mask with available=..."
            )
        inputs = {
            name: self._input(name, sample.inputs[name], keep)
            for name, keep in zip(self.modalities, keeps, strict=True)
        }
        present = torch.tensor(keeps, dtype=torch.bool)
        return IncompleteSample(sample.id, inputs, present, sample.target, sample.extras, self.sequences)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        """The samples at ``indices`` as one :class:`~mce_data.collate.Batch`: what
        ``collate_incomplete([self[i] for i in indices])`` gives, built with one tensor index per modality when
        the base has ``rows()`` and no sequences (the DataLoader's batched-fetch protocol; ``collate_incomplete``
        passes a batch through unchanged).
        """
        from mce_data.collate import Batch, collate_incomplete  # collate imports this module

        rows = getattr(self.base, "rows", None)
        if rows is None or self.sequences:
            return collate_incomplete([self[i] for i in indices])
        n = len(self)
        if any(not -n <= i < n for i in indices):
            raise IndexError(f"indices {[i for i in indices if not -n <= i < n][:3]} out of range for {n} samples")
        picked = torch.tensor([i % n for i in indices], dtype=torch.long)
        inputs, available, target = rows(torch.tensor(self._positions, dtype=torch.long)[picked])
        present = self._present[picked] & available
        inputs = {name: zero_rows(inputs[name], present[:, m]) for m, name in enumerate(self.modalities)}
        lengths = {
            name: (torch.full((len(picked),), x.shape[1] if x.ndim > 1 else 1) * present[:, m]).long()
            for m, (name, x) in enumerate(inputs.items())
        }
        return Batch([self._ids[i] for i in picked.tolist()], inputs, lengths, present, target, {})

    def _input(self, name: str, tensor: Tensor, keep: bool) -> Tensor:
        if keep:
            return tensor
        if name in self.sequences and tensor.ndim >= 1:
            return tensor.new_zeros((0, *tensor.shape[1:]))
        return torch.zeros_like(tensor)
