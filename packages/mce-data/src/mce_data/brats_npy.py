"""BraTS2020 in the preprocessed ``.npy`` layout of mmFormer / RFNet, and a writer for it (the cache).

Layout (``BRATS2020_Training_none_npy/``), as written by mmFormer's ``preprocess.py``:

* ``vol/<case>_vol.npy``: ``float32 [H, W, D, 4]``, channels in the order ``(flair, t1ce, t1, t2)``,
  cropped to the brain's bounding box and z-scored in the brain (:func:`write_brats_npy` also keeps at
  least the training crop size per axis, zero-padding where the volume is smaller, and records each
  case's box in ``bbox.json``);
* ``seg/<case>_seg.npy``: ``uint8 [H, W, D]`` with labels ``{0, 1, 2, 3}`` (4 already mapped to 3);
* ``train.txt``, ``val.txt``, ``test.txt``: one case name (``<case>``) per line.

:class:`BraTSNpy` returns the same :class:`~mce_data.sample.Sample` as :class:`~mce_data.brats.BraTS`
(channels reordered to ``("flair", "t1", "t1ce", "t2")``, each ``Float[1, H, W, D]``). The files are
memory-mapped, so a random crop reads only the cropped voxels: this layout is the fast cache of the
NIfTI tree, and :func:`write_brats_npy` converts a :class:`~mce_data.brats.BraTS` dataset into it.
An optional ``modalities.json`` (``{case: [present modalities]}``), written by
:func:`write_brats_npy` for cases with missing modalities, keeps their availability; without it every
modality is present, as in mmFormer's preprocessing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import torch

from mce_data.brats import MODALITIES, BraTS
from mce_data.brats_preprocess import SharedEpoch, crop_corner, crop_generator, remap_labels
from mce_data.errors import DataFileError
from mce_data.sample import Sample

#: Channel order of mmFormer's ``vol`` arrays.
NPY_CHANNELS: tuple[str, ...] = ("flair", "t1ce", "t1", "t2")
_PREPROCESSED_LABELS = {0: 0, 1: 1, 2: 2, 3: 3}
SPLITS = ("train", "val", "test")


def _load(path: Path) -> npt.NDArray[Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return cast(npt.NDArray[Any], np.load(path, mmap_mode="r", allow_pickle=False))
    except Exception as error:  # truncated headers raise ValueError, short data raises OSError/EOFError
        raise DataFileError(path, f"not a readable .npy array ({type(error).__name__}: {error})") from error


class BraTSNpy:
    """BraTS cases from mmFormer's ``vol`` / ``seg`` ``.npy`` layout.

    Args:
        root: the ``BRATS2020_Training_none_npy`` folder.
        split: ``"train"``, ``"val"`` or ``"test"`` reads the names in ``<split>.txt``; ``None`` takes
            every ``vol/*_vol.npy``.
        crop_size: ``(h, w, d)`` random crop (zero-padded where the volume is smaller), or ``None``.
        seed: crops come from ``torch.Generator`` seeded by ``(seed, epoch, index)``.

    >>> import tempfile
    >>> from mce_data.synthetic_brats import write_synthetic_brats
    >>> root = write_synthetic_brats(tempfile.mkdtemp(), n_cases=5, shape=(16, 16, 16), npy=True)
    >>> data = BraTSNpy(root / "BRATS2020_Training_none_npy", split="train", crop_size=(8, 8, 8))
    >>> len(data), tuple(data[0].inputs["flair"].shape), data[0].target.dtype
    (3, (1, 8, 8, 8), torch.int64)
    """

    modalities: tuple[str, ...] = MODALITIES

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = "train",
        *,
        crop_size: Sequence[int] | None = None,
        seed: int = 0,
    ) -> None:
        self.root = Path(root)
        if not (self.root / "vol").is_dir() or not (self.root / "seg").is_dir():
            from mce_data.brats import LAYOUT_HELP

            raise FileNotFoundError(f"{self.root}: expected vol/ and seg/ folders.\n{LAYOUT_HELP}")
        if split is None:
            self.names = sorted(p.name[: -len("_vol.npy")] for p in (self.root / "vol").glob("*_vol.npy"))
        elif split in SPLITS:
            listing = self.root / f"{split}.txt"
            if not listing.is_file():
                raise FileNotFoundError(f"{listing}: no split file (expected one case name per line)")
            self.names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        else:
            raise ValueError(f"split must be one of {SPLITS} or None; got {split!r}")
        if not self.names:
            raise ValueError(f"{self.root}: split {split!r} lists no cases")
        if crop_size is not None and (len(crop_size) != 3 or any(int(c) < 1 for c in crop_size)):
            raise ValueError(f"crop_size must be None or three positive ints; got {crop_size!r}")
        self.crop_size = tuple(int(c) for c in crop_size) if crop_size is not None else None
        present_file = self.root / "modalities.json"
        self.present: Mapping[str, Sequence[str]] = (
            json.loads(present_file.read_text()) if present_file.is_file() else {}
        )
        self.seed = seed
        self._epoch = SharedEpoch()

    def __len__(self) -> int:
        return len(self.names)

    def sample_ids(self) -> list[str]:
        """The case names, in split-file order."""
        return list(self.names)

    @property
    def epoch(self) -> int:
        """The epoch of the crops (shared with DataLoader workers; see :meth:`set_epoch`)."""
        return self._epoch.get()

    def set_epoch(self, epoch: int) -> None:
        """Draw a fresh set of random crops (call once per epoch; workers see it, persistent ones too)."""
        self._epoch.set(epoch)

    def available_matrix(self) -> torch.Tensor:
        """``Bool[N, 4]`` from ``modalities.json`` (every modality present for cases it does not list)."""
        rows = [[m in set(self.present.get(name, MODALITIES)) for m in MODALITIES] for name in self.names]
        return torch.tensor(rows, dtype=torch.bool).reshape(len(self.names), len(MODALITIES))

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} cases")
        name = self.names[index]
        vol_path, seg_path = self.root / "vol" / f"{name}_vol.npy", self.root / "seg" / f"{name}_seg.npy"
        vol, seg = _load(vol_path), _load(seg_path)
        if vol.ndim != 4 or vol.shape[-1] != len(NPY_CHANNELS):
            raise DataFileError(vol_path, f"expected shape [H, W, D, 4]; got {vol.shape}")
        if seg.shape != vol.shape[:3]:
            raise DataFileError(seg_path, f"shape {seg.shape} differs from the volume's {vol.shape[:3]}")
        if self.crop_size is not None:
            h, w, d = crop_corner(seg.shape, self.crop_size, crop_generator(self.seed, self.epoch, index % len(self)))
            ch, cw, cd = self.crop_size
            vol, seg = vol[h : h + ch, w : w + cw, d : d + cd], seg[h : h + ch, w : w + cw, d : d + cd]
        try:
            volume = torch.from_numpy(np.array(vol, dtype=np.float32))
            labels = np.array(seg)
        except Exception as error:
            raise DataFileError(vol_path, f"the array data cannot be read ({error})") from error
        if not torch.isfinite(volume).all():
            raise DataFileError(vol_path, "the volume holds NaN or infinite values")
        target = remap_labels(labels, _PREPROCESSED_LABELS, str(seg_path))
        if self.crop_size is not None:
            missing = [c - s for c, s in zip(self.crop_size, target.shape, strict=False)]
            if any(missing):
                pad = [(0, m) for m in missing]
                target = torch.from_numpy(np.pad(target.numpy(), pad))
                volume = torch.from_numpy(np.pad(volume.numpy(), [*pad, (0, 0)]))
        present = set(self.present.get(name, MODALITIES))
        inputs = {}
        for m in MODALITIES:
            channel = volume[..., NPY_CHANNELS.index(m)]
            inputs[m] = (channel if m in present else torch.zeros_like(channel)).unsqueeze(0)
        return Sample(name, inputs, tuple(m in present for m in MODALITIES), target)


def npy_brain_box(brain: npt.NDArray[np.bool_], min_size: Sequence[int] = (0, 0, 0)) -> list[tuple[int, int]]:
    """Per axis ``(start, stop)`` of the box :func:`write_brats_npy` stores (the loader's own crop, mmFormer's rule,
    is :func:`mce_data.brats_preprocess.brain_box`): the brain's bounding box
    (one voxel of margin before the first brain voxel, up to and including the last one), widened around
    its centre to at least ``min_size`` where the volume allows (never beyond the volume).

    >>> brain = np.zeros((10, 10, 10), dtype=bool); brain[3:6, 4, 2:9] = True
    >>> npy_brain_box(brain), npy_brain_box(brain, (6, 4, 20))
    ([(2, 6), (3, 5), (1, 9)], [(1, 7), (2, 6), (0, 10)])
    """
    box = []
    for axis, size in enumerate(brain.shape):
        other = tuple(a for a in range(brain.ndim) if a != axis)
        hits = np.flatnonzero(brain.any(axis=other))
        start, stop = (max(0, int(hits[0]) - 1), min(size, int(hits[-1]) + 1)) if hits.size else (0, size)
        want = min(int(min_size[axis]), size)
        if stop - start < want:
            start = min(max(0, (start + stop - want) // 2), size - want)
            stop = start + want
        box.append((start, stop))
    return box


def write_brats_npy(
    dataset: BraTS,
    out_dir: str | os.PathLike[str],
    splits: Mapping[str, Sequence[str]] | None = None,
    *,
    min_size: Sequence[int] = (80, 80, 80),
) -> Path:
    """Convert a NIfTI :class:`~mce_data.brats.BraTS` dataset (whole volumes) to the ``.npy`` layout.

    Each case is cropped to its brain's bounding box (:func:`npy_brain_box`; the brain is where any present
    modality is non-zero after the z-scoring), as mmFormer's preprocessing does, kept at least
    ``min_size`` per axis (the training crop; zero-padded at the end where the volume is smaller). The
    boxes go to ``bbox.json`` (``{case: [[start, stop], ...]}`` in the NIfTI's voxel axes).

    Args:
        dataset: the source; must not crop (``crop_size=None``).
        out_dir: the ``BRATS2020_Training_none_npy`` folder to create or fill.
        splits: split name -> case ids for ``train.txt`` / ``val.txt`` / ``test.txt``; by default
            every case goes to ``train.txt``.
        min_size: the smallest stored size per axis (``(0, 0, 0)``: the bare bounding box).

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.
    """
    if len(min_size) != 3 or any(int(s) < 0 for s in min_size):
        raise ValueError(f"min_size must be three non-negative ints; got {tuple(min_size)!r}")
    if dataset.crop_size is not None:
        raise ValueError(f"write_brats_npy needs whole volumes; the dataset crops to {dataset.crop_size}")
    if dataset.brain_crop:
        raise ValueError(
            "write_brats_npy needs whole volumes (its boxes are in the NIfTI's axes); got a dataset "
            "that crops each case to its brain: BraTS(..., brain_crop=False)"
        )
    unknown = sorted(set(splits or {}) - set(SPLITS))
    if unknown:
        raise ValueError(f"splits must be among {SPLITS}; got {unknown}")
    out = Path(out_dir)
    (out / "vol").mkdir(parents=True, exist_ok=True)
    (out / "seg").mkdir(parents=True, exist_ok=True)
    present: dict[str, list[str]] = {}
    boxes: dict[str, list[tuple[int, int]]] = {}
    for index in range(len(dataset)):
        sample = dataset[index]
        volume = torch.stack([sample.inputs[m][0] for m in NPY_CHANNELS], dim=-1).numpy().astype(np.float32)
        box = npy_brain_box((volume != 0).any(axis=-1), min_size)
        boxes[sample.id] = box
        window = tuple(slice(a, b) for a, b in box)
        pad = [(0, max(0, int(want) - (b - a))) for (a, b), want in zip(box, min_size, strict=True)]
        np.save(out / "vol" / f"{sample.id}_vol.npy", np.pad(volume[window], [*pad, (0, 0)]))
        np.save(out / "seg" / f"{sample.id}_seg.npy", np.pad(sample.target.numpy()[window].astype(np.uint8), pad))
        if not all(sample.available):
            present[sample.id] = [m for m, a in zip(MODALITIES, sample.available, strict=False) if a]
    if present:
        (out / "modalities.json").write_text(json.dumps(present, indent=1))
    (out / "bbox.json").write_text(json.dumps(boxes, indent=1))
    for split, names in (splits or {"train": dataset.sample_ids()}).items():
        (out / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    return out
