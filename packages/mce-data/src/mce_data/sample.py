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

Optional parts of the contract:

* ``dataset.sequence_modalities: frozenset[str]``: the modalities whose inputs are variable-length
  sequences ``[T, ...]`` (IEMOCAP's three); :func:`~mce_data.collate.collate_incomplete` zero-pads only
  these along ``T``; any other shape mismatch within a batch is an error. Default: none
  (:func:`sequence_modalities`).
* ``dataset.available_matrix() -> Bool[N, M]``: which modalities the source has, per sample in
  ``sample_ids()`` order, computed cheaply (file lookups, no decoding); used to draw masks among the
  available cells (:func:`available_matrix`, ``MissingMask.generate(..., available=...)``).
* ``dataset.rows(indices: Long[n]) -> (inputs, available, target)``: many samples at once, stacked, as
  ``dataset[i]`` gives them one by one (in-memory datasets without sequences or extras:
  :class:`~mce_data.tensor_dataset.TensorMultiModalDataset`); lets
  :meth:`~mce_data.incomplete.IncompleteDataset.__getitems__` build a batch with one index per modality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
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


def sequence_modalities(dataset: object) -> frozenset[str]:
    """The dataset's variable-length modalities (its ``sequence_modalities`` attribute; default none).

    >>> sequence_modalities(object())
    frozenset()
    """
    value: object = getattr(dataset, "sequence_modalities", frozenset())
    if not isinstance(value, (frozenset, set, tuple, list)) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"sequence_modalities must be a set of modality names, got {value!r}")
    return frozenset(str(v) for v in value)


def available_matrix(dataset: object) -> Tensor | None:
    """``Bool[N, M]`` from the dataset's ``available_matrix()`` (checked), or ``None`` if it has none.

    >>> from mce_data.tensor_dataset import TensorMultiModalDataset
    >>> data = TensorMultiModalDataset(["a"], {"x": torch.ones(1, 2)}, torch.zeros(1))
    >>> available_matrix(data).tolist(), available_matrix(object())
    ([[True]], None)
    """
    method = getattr(dataset, "available_matrix", None)
    if method is None:
        return None
    matrix = method()
    shape = (len(dataset.sample_ids()), len(dataset.modalities))  # type: ignore[attr-defined]
    if not isinstance(matrix, Tensor) or matrix.dtype != torch.bool or tuple(matrix.shape) != shape:
        got = f"{matrix.dtype} {tuple(matrix.shape)}" if isinstance(matrix, Tensor) else type(matrix).__name__
        raise ValueError(f"{type(dataset).__name__}.available_matrix() must return Bool{list(shape)}, got {got}")
    return matrix
