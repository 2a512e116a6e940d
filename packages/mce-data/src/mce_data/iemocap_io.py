"""IEMOCAP's file layout and readers: the modality, folder and split names, the layout help text, and the checked
reading of MMIN's HDF5 feature files and ``.npy`` target files (utterance ids and class labels) that
:class:`~mce_data.iemocap.IEMOCAP` builds on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mce_data._optional import require
from mce_data.errors import DataFileError

MODALITIES: tuple[str, ...] = ("acoustic", "visual", "lexical")
FOLDERS: Mapping[str, str] = {"acoustic": "A", "visual": "V", "lexical": "L"}
SPLITS: tuple[str, ...] = ("trn", "val", "tst")
N_CLASSES = 4

LAYOUT_HELP = """\
IEMOCAP is licensed by SAIL, University of Southern California: request it at
  https://sail.usc.edu/iemocap/iemocap_release.htm
This loader reads the pre-extracted features of MMIN (github.com/AIM3-RUC/MMIN, see its README for the
feature download), placed as:
  <root>/A/comparE.h5            one dataset per utterance id, float [T, 130]
  <root>/A/comparE_mean_std.h5   groups "1".."10" with "mean" [130] and "std" [130]
  <root>/V/denseface.h5          one dataset per utterance id, float [T, 342]
  <root>/L/bert_large.h5         one dataset per utterance id, float [T, 1024]
  <root>/target/<cv>/{trn,val,tst}_label.npy and {trn,val,tst}_int2name.npy   for cv = 1..10
and loaded with mce_data.IEMOCAP(<root>, cv=1, split="trn")."""


def open_h5(path: Path) -> Any:
    """The feature file at ``path`` opened read-only with h5py; a missing or unreadable file names the layout."""
    h5py = require("h5py")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such feature file.\n{LAYOUT_HELP}")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise DataFileError(path, f"not a readable HDF5 file ({error})") from error


def read_npy(path: Path, *, names: bool = False) -> npt.NDArray[Any]:
    """A target ``.npy`` array (object arrays of names allowed with ``names``); unreadable: ``DataFileError``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such target file.\n{LAYOUT_HELP}")
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except ValueError as error:
        if names and "allow_pickle" in str(error):  # object arrays of names, as some preprocessing writes
            return np.asarray(np.load(path, allow_pickle=True))
        raise DataFileError(path, f"not a readable .npy array ({error})") from error
    except (OSError, EOFError) as error:
        raise DataFileError(path, f"not a readable .npy array ({error})") from error


def decode_names(array: npt.NDArray[Any], source: str) -> list[str]:
    """Utterance ids from an ``int2name`` array: ``[N]`` or ``[N, 1]`` of ``bytes`` or ``str``.

    >>> decode_names(np.array([[b"Ses01F_impro01_F000"], [b"Ses01F_impro01_M001"]]), "x")
    ['Ses01F_impro01_F000', 'Ses01F_impro01_M001']
    """
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DataFileError(source, f"int2name must have shape [N] or [N, 1]; got {array.shape}")
    out = []
    for item in array.tolist():
        if isinstance(item, bytes):
            out.append(item.decode())
        elif isinstance(item, str):
            out.append(item)
        else:
            raise DataFileError(source, f"int2name entries must be bytes or str; got {type(item).__name__} {item!r}")
    repeated = sorted(name for name, n in Counter(out).items() if n > 1)
    if repeated:
        raise DataFileError(
            source, f"int2name lists {len(repeated)} utterance id(s) more than once, e.g. {repeated[:3]}"
        )
    return out


def decode_labels(array: npt.NDArray[Any], source: str, n_classes: int = N_CLASSES) -> npt.NDArray[np.int64]:
    """Class indices from one-hot ``[N, C]`` or index ``[N]`` labels; a ``DataFileError`` names the file and row.

    One-hot rows must hold exactly one 1 and zeros elsewhere (an all-zero, soft or NaN row is an error,
    never silently class 0); index labels must be whole numbers in ``0..C-1``.

    >>> decode_labels(np.eye(4)[[2, 0]], "x").tolist()
    [2, 0]
    """
    if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
        raise DataFileError(source, f"labels must be numeric; got dtype {array.dtype}")
    if array.ndim == 2:
        if array.shape[1] != n_classes:
            raise DataFileError(source, f"one-hot labels must have {n_classes} columns; got shape {array.shape}")
        ok = ((array == 0) | (array == 1)).all(axis=1) & ((array == 1).sum(axis=1) == 1)
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            raise DataFileError(
                source,
                f"row {row} is not one-hot (exactly one 1, zeros elsewhere): {array[row].tolist()} "
                f"({int((~ok).sum())} such rows)",
            )
        return np.asarray(np.argmax(array, axis=1), dtype=np.int64)
    if array.ndim != 1:
        raise DataFileError(source, f"labels must have shape [N] or [N, {n_classes}]; got {array.shape}")
    valid = np.isfinite(array) & (array == np.round(array)) & (array >= 0) & (array < n_classes)
    if not valid.all():
        row = int(np.flatnonzero(~valid)[0])
        raise DataFileError(
            source,
            f"row {row}: label {array[row].item()!r} is outside the expected set {list(range(n_classes))} "
            f"({int((~valid).sum())} such rows)",
        )
    return array.astype(np.int64)
