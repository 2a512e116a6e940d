"""IEMOCAP (4-class emotion) from MMIN's pre-extracted feature files, one utterance per sample.

Layout (as used by MMIN, github.com/AIM3-RUC/MMIN, ``data/multimodal_miss_dataset.py``)::

    <root>/A/comparE.h5             one dataset per utterance id: float [T_a, 130]  (ComParE LLDs)
    <root>/A/comparE_mean_std.h5    groups "1".."10" (the fold), each with "mean" [130] and "std" [130]
    <root>/V/denseface.h5           one dataset per utterance id: float [T_v, 342]  (DenseFace)
    <root>/L/bert_large.h5          one dataset per utterance id: float [T_l, 1024] (BERT-large tokens)
    <root>/target/<cv>/{trn,val,tst}_label.npy     one-hot [N, 4] (or class indices [N])
    <root>/target/<cv>/{trn,val,tst}_int2name.npy  utterance ids [N, 1] of bytes (or [N], str or bytes)

Modalities, in order: ``("acoustic", "visual", "lexical")`` from ``A``, ``V``, ``L``. Each is an
unpadded ``Float[T, D]`` sequence (the collate pads along ``T``). As in MMIN (``norm_method='trn'``),
only the ComParE acoustic features are normalised, with the fold's training mean and std from
``comparE_mean_std.h5``; other feature stems and the visual and lexical features are returned as stored
(unless ``normalize=True`` asks for ``<stem>_mean_std.h5``). An utterance absent from a feature file,
or stored there as an empty ``[0, D]`` array, is a missing modality: ``Float[0, D]`` with
``available = False`` (MMIN's features genuinely lack some). More than ``max_absent`` (default half)
of a split's ids absent from one file means the file belongs to another dataset: a ``DataFileError``.
Every unreadable or malformed file is a :class:`~mce_data.errors.DataFileError` naming it.
Target: ``Long[]`` class index (IEMOCAP in MMIN: 0 anger, 1 happiness + excitement, 2 neutral, 3 sadness).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mce_data._h5 import PerProcessFiles
from mce_data.errors import DataFileError
from mce_data.iemocap_io import FOLDERS as FOLDERS
from mce_data.iemocap_io import LAYOUT_HELP as LAYOUT_HELP
from mce_data.iemocap_io import MODALITIES as MODALITIES
from mce_data.iemocap_io import N_CLASSES as N_CLASSES
from mce_data.iemocap_io import SPLITS as SPLITS
from mce_data.iemocap_io import decode_labels as decode_labels
from mce_data.iemocap_io import decode_names as decode_names
from mce_data.iemocap_io import open_h5, read_npy
from mce_data.sample import Sample


class IEMOCAP:
    """One fold and split of IEMOCAP in MMIN's layout, as :class:`~mce_data.sample.Sample` objects.

    Args:
        root: the feature root holding ``A/``, ``V/``, ``L/`` (and ``target/`` unless ``target_root``).
        cv: the cross-validation fold, ``1``..``10``.
        split: ``"trn"``, ``"val"`` or ``"tst"``.
        features: file stem per modality (MMIN's ``A_type`` / ``V_type`` / ``L_type``).
        normalize: ``None`` (default) normalises the acoustic features with the fold's mean / std from
            ``comparE_mean_std.h5`` when they are ComParE, as MMIN does (``'trn'``), and leaves other
            stems as stored; ``True`` normalises any acoustic stem with ``<stem>_mean_std.h5``;
            ``False`` never normalises.
        preload: read every utterance of the split into memory at construction (MMIN's
            ``h5_to_dict``); otherwise each item is read from the open HDF5 files on demand.
        target_root: where ``<cv>/..._label.npy`` live (default ``root / "target"``).
        max_absent: the largest fraction of the split's ids that may be absent from one feature file
            (they are missing modalities); more is a ``DataFileError`` naming the file (a foreign file).

    >>> import tempfile
    >>> from mce_data.synthetic_iemocap import write_synthetic_iemocap
    >>> root = write_synthetic_iemocap(tempfile.mkdtemp(), n_utterances=20, seed=0)
    >>> data = IEMOCAP(root, cv=1, split="tst")
    >>> sample = data[0]
    >>> len(data), sample.available, sample.inputs["lexical"].shape[1], sample.target.dtype
    (2, (True, True, True), 12, torch.int64)
    """

    modalities: tuple[str, ...] = MODALITIES
    sequence_modalities: frozenset[str] = frozenset(MODALITIES)

    def __init__(
        self,
        root: str | os.PathLike[str],
        cv: int,
        split: str,
        *,
        features: Mapping[str, str] | None = None,
        normalize: bool | None = None,
        preload: bool = False,
        target_root: str | os.PathLike[str] | None = None,
        max_absent: float = 0.5,
    ) -> None:
        if isinstance(cv, bool) or not isinstance(cv, int) or not 1 <= cv <= 10:
            raise ValueError(f"cv must be an int fold in 1..10; got {cv!r}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
        self.root = Path(root)
        stems = {"acoustic": "comparE", "visual": "denseface", "lexical": "bert_large"}
        stems.update(features or {})
        self.paths = {m: self.root / FOLDERS[m] / f"{stems[m]}.h5" for m in MODALITIES}
        targets = Path(target_root) if target_root is not None else self.root / "target"
        label_path = targets / str(cv) / f"{split}_label.npy"
        name_path = targets / str(cv) / f"{split}_int2name.npy"
        self.names = decode_names(read_npy(name_path, names=True), str(name_path))
        self.labels = decode_labels(read_npy(label_path), str(label_path))
        if len(self.names) != len(self.labels):
            raise DataFileError(
                label_path, f"{len(self.labels)} labels but {name_path.name} lists {len(self.names)} names"
            )
        if not 0.0 <= max_absent <= 1.0:
            raise ValueError(f"max_absent must be a fraction in [0, 1]; got {max_absent!r}")
        self.cv, self.split = cv, split
        self._files = PerProcessFiles()
        self.dims = {m: self._dim(m) for m in MODALITIES}
        self._available = self._find_available(max_absent)
        self.mean: Tensor | None = None
        self.std: Tensor | None = None
        if normalize or (normalize is None and stems["acoustic"] == "comparE"):
            self.mean, self.std = self._fold_stats(self.paths["acoustic"].with_name(f"{stems['acoustic']}_mean_std.h5"))
        self._cache: dict[int, Sample] | None = None
        if preload:
            self._cache = {i: self._read(i) for i in range(len(self))}
            self.close()

    def __len__(self) -> int:
        return len(self.names)

    def sample_ids(self) -> list[str]:
        """The utterance ids of this split, in ``int2name`` order."""
        return list(self.names)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} utterances")
        index %= len(self)
        if self._cache is not None:
            return self._cache[index]
        return self._read(index)

    def available_matrix(self) -> Tensor:
        """``Bool[N, 3]``: whether each utterance has non-empty features in each file (metadata only, no reads)."""
        return self._available.clone()

    def close(self) -> None:
        """Close the HDF5 files (they reopen on the next read)."""
        self._files.close()

    def _file(self, modality: str) -> Any:
        return self._files.get(modality, lambda: open_h5(self.paths[modality]))

    def _find_available(self, max_absent: float) -> Tensor:
        columns = []
        for m in MODALITIES:
            file = self._file(m)
            listed = [name in file for name in self.names]
            absent = len(listed) - sum(listed)
            if self.names and absent / len(self.names) > max_absent:
                raise DataFileError(
                    self.paths[m],
                    f"{absent} of the {len(self.names)} utterance ids of fold {self.cv} "
                    f"{self.split!r} are absent from it (more than max_absent={max_absent}); another dataset's file?",
                )
            has = zip(self.names, listed, strict=True)
            columns.append([ok and getattr(file[name], "shape", (0,))[0] > 0 for name, ok in has])
        return torch.tensor(columns, dtype=torch.bool).reshape(len(MODALITIES), -1).T.contiguous()

    def _dim(self, modality: str) -> int:
        file = self._file(modality)
        for key in file:
            item = file[key]
            if getattr(item, "ndim", None) == 2:
                return int(item.shape[1])
            raise DataFileError(self.paths[modality], f"'{key}' must be a [T, D] dataset; got {item!r}")
        raise DataFileError(self.paths[modality], "the feature file holds no utterances")

    def _fold_stats(self, path: Path) -> tuple[Tensor, Tensor]:
        file = open_h5(path)
        try:
            if str(self.cv) not in file:
                raise DataFileError(path, f"no group '{self.cv}' (fold) in {sorted(file)}")
            group = file[str(self.cv)]
            mean = np.asarray(group["mean"][()], dtype=np.float32).reshape(-1)
            std = np.asarray(group["std"][()], dtype=np.float32).reshape(-1)
        except KeyError as error:
            raise DataFileError(path, f"fold '{self.cv}' lacks 'mean' or 'std' ({error})") from error
        finally:
            file.close()
        dim = self.dims["acoustic"]
        if mean.shape != (dim,) or std.shape != (dim,):
            raise DataFileError(path, f"mean / std must have shape [{dim}]; got {mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std < 0).any():
            raise DataFileError(path, f"fold '{self.cv}' mean / std hold NaN, inf or negative std values")
        return torch.from_numpy(mean), torch.from_numpy(np.where(std == 0, 1.0, std).astype(np.float32))

    def _read(self, index: int) -> Sample:
        name = self.names[index]
        inputs: dict[str, Tensor] = {}
        available = []
        for m in MODALITIES:
            file = self._file(m)
            if name not in file:
                inputs[m] = torch.zeros(0, self.dims[m])
                available.append(False)
                continue
            try:
                array = np.asarray(file[name][()], dtype=np.float32)
            except Exception as error:
                raise DataFileError(self.paths[m], f"cannot read '{name}' ({type(error).__name__}: {error})") from error
            if array.ndim != 2 or array.shape[1] != self.dims[m]:
                raise DataFileError(self.paths[m], f"'{name}' must be [T, {self.dims[m]}]; got {array.shape}")
            if array.shape[0] == 0:  # empty: a missing modality, as an absent id
                inputs[m] = torch.zeros(0, self.dims[m])
                available.append(False)
                continue
            if not np.isfinite(array).all():
                raise DataFileError(self.paths[m], f"'{name}' holds NaN or infinite values")
            feature = torch.from_numpy(array)
            if m == "acoustic" and self.mean is not None and self.std is not None:
                feature = (feature - self.mean) / self.std
            inputs[m] = feature
            available.append(True)
        return Sample(name, inputs, tuple(available), torch.tensor(int(self.labels[index])))
