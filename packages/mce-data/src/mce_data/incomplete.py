"""An incomplete view of a multi-modal dataset: each sample's modalities masked by a :class:`MissingMask`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mce_data.masks import MissingMask, ids_digest
from mce_data.sample import MultiModalDataset


@dataclass(frozen=True)
class IncompleteSample:
    """One sample as a model sees it: missing modalities are zero tensors and ``present`` says which.

    Attributes:
        id: the sample's id.
        inputs: modality -> tensor (zeros where ``present`` is ``False``).
        present: ``Bool[M]``, the mask's row AND the source's ``available``.
        target: the sample's target.
        extras: the base sample's extras (or ``None``).
    """

    id: str
    inputs: dict[str, Tensor]
    present: Tensor
    target: Tensor
    extras: dict[str, Tensor] | None = None


class IncompleteDataset(Dataset[IncompleteSample]):
    """Mask a :class:`~mce_data.sample.MultiModalDataset` by id: the mask follows the sample, not the position.

    Args:
        base: the complete dataset.
        mask: a :class:`MissingMask` over ``base.sample_ids()`` with the same modalities. An
            ``all_missing="exclude"`` mask drawn for exactly ``base``'s ids drops the excluded samples;
            any other id mismatch is a ``ValueError``.

    Items are :class:`IncompleteSample`; ``present = mask[id] & sample.available``. The dataset pickles
    (DataLoader workers) when ``base`` does, and indexing is deterministic.

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
        # Base positions of the kept samples, in base order, and their mask rows.
        self._positions = [position[sid] for sid in base_ids if sid in mask]
        self._ids = [base_ids[p] for p in self._positions]
        self._present = mask.lookup(self._ids)

    def __len__(self) -> int:
        return len(self._positions)

    def sample_ids(self) -> list[str]:
        """The ids of the kept samples, in index order."""
        return list(self._ids)

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
        present = self._present[index] & torch.tensor(sample.available, dtype=torch.bool)
        inputs = {
            name: sample.inputs[name] if keep else torch.zeros_like(sample.inputs[name])
            for name, keep in zip(self.modalities, present.tolist(), strict=False)
        }
        return IncompleteSample(sample.id, inputs, present, sample.target, sample.extras)
