"""What every mce-data dataset returns: one sample with its id, its modalities and its target.

The contract shared by all loaders (AudiovisionMNIST, BraTS, IEMOCAP, nuScenes, the synthetic
generators) and by :class:`~mce_data.incomplete.IncompleteDataset`:

* ``dataset.modalities`` names the modalities in a fixed order (column ``m`` of every
  ``present: Bool[N, M]`` matrix).
* ``dataset.sample_ids()`` lists the ids cheaply, without loading any sample; masks are keyed
  by these ids, never by positions.
* ``dataset[i]`` returns a :class:`Sample` whose ``inputs`` holds a tensor for *every* modality.
  A modality the source itself lacks (a BraTS2015 case with no T1) is a zero tensor of the
  modality's usual shape with ``available[m] = False``; variable-length sequences may be
  ``[0, dim]`` then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from torch import Tensor


@dataclass(frozen=True)
class Sample:
    """One multi-modal sample.

    Attributes:
        id: the sample's stable id (file stem, utterance id, sample token).
        inputs: modality name -> tensor, one entry per ``dataset.modalities``.
        available: per modality in ``dataset.modalities`` order, whether the source has it.
        target: the label (``Long[]``), segmentation map (``Long[*spatial]``) or target dict entry.
        extras: optional per-sample tensors a benchmark needs besides the target
            (e.g. nuScenes' ``valid: Bool[H, W]`` mask); collated like ``target``.
    """

    id: str
    inputs: dict[str, Tensor]
    available: tuple[bool, ...]
    target: Tensor
    extras: dict[str, Tensor] | None = None


@runtime_checkable
class MultiModalDataset(Protocol):
    """A map-style dataset of :class:`Sample` (what every loader in mce-data is)."""

    modalities: tuple[str, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...

    def sample_ids(self) -> Sequence[str]: ...
