"""BraTS voxel operations: reading NIfTI safely, label remapping, brain-mask z-scoring, crops, regions.

Labels. BraTS2020 segmentations use ``{0, 1, 2, 4}`` (background, necrotic/non-enhancing core,
oedema, enhancing tumour); every loader here remaps ``4 -> 3`` so targets are ``{0, 1, 2, 3}``.
The evaluated regions are WT (whole tumour: 1, 2, 3), TC (tumour core: 1, 3) and ET (enhancing: 3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional

from mce_data._optional import require
from mce_data.errors import DataFileError

#: BraTS2020 label -> training label (``4 -> 3``); a value outside the keys is an error.
BRATS20_LABELS: Mapping[int, int] = {0: 0, 1: 1, 2: 2, 4: 3}


def read_nifti(path: Path, *, as_float: bool = True) -> np.ndarray:
    """The voxel array of a ``.nii`` / ``.nii.gz`` file, in the file's own axis order.

    ``as_float`` returns float32 (images); otherwise the stored dtype (after any scaling).

    Raises:
        FileNotFoundError: the file does not exist.
        DataFileError: the file is not a readable 3-D NIfTI image (truncated, corrupt, wrong rank,
            non-finite values); the message names the file.
    """
    nibabel = require("nibabel")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such NIfTI file")
    try:
        image = nibabel.load(str(path))
        array = np.asarray(image.dataobj, dtype=np.float32 if as_float else None)
    except Exception as error:  # nibabel raises many types (EOFError, zlib.error, ImageFileError...)
        raise DataFileError(path, f"not a readable NIfTI volume ({type(error).__name__}: {error})") from error
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise DataFileError(path, f"expected a 3-D volume; got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise DataFileError(path, "the volume holds NaN or infinite values")
    return array


def remap_labels(labels: np.ndarray, mapping: Mapping[int, int], source: str) -> Tensor:
    """``Long[*spatial]`` training labels from raw label values through ``mapping``.

    Args:
        labels: the raw label array (any numeric dtype; floats must be whole numbers).
        mapping: raw value -> training label, e.g. :data:`BRATS20_LABELS`.
        source: the file the labels came from, quoted in errors.

    Raises:
        DataFileError: a value is not a whole number or is not a key of ``mapping`` (names ``source``).

    >>> remap_labels(np.array([0, 1, 2, 4]), BRATS20_LABELS, "seg.nii.gz").tolist()
    [0, 1, 2, 3]
    """
    if np.issubdtype(labels.dtype, np.floating) and not np.array_equal(labels, np.round(labels)):
        raise DataFileError(source, "label values must be whole numbers; found fractional values")
    values = np.unique(labels).astype(np.int64)
    unexpected = sorted(int(v) for v in values if int(v) not in mapping)
    if unexpected:
        raise DataFileError(
            source,
            f"label values {unexpected} are outside the expected set {sorted(mapping)} (found {values.tolist()})",
        )
    lookup = np.zeros(int(values.max()) + 1, dtype=np.int64)
    for raw, new in mapping.items():
        if 0 <= raw < lookup.size:
            lookup[raw] = new
    return torch.from_numpy(lookup[labels.astype(np.int64)])


def zscore_in_mask(volume: Tensor, mask: Tensor) -> Tensor:
    """Z-score ``volume`` with the mean and std of the voxels inside ``mask``; zero outside it.

    Args:
        volume: ``Float[D, H, W]``.
        mask: ``Bool[D, H, W]`` (the brain); an empty mask returns zeros.

    >>> v = torch.tensor([[[0.0, 2.0, 4.0]]]); m = torch.tensor([[[False, True, True]]])
    >>> zscore_in_mask(v, m).double().round(decimals=4).tolist()
    [[[0.0, -1.0, 1.0]]]
    """
    inside = volume[mask]
    if inside.numel() == 0:
        return torch.zeros_like(volume)
    mean = inside.mean()
    std = inside.std(unbiased=False).clamp_min(1e-8)
    return torch.where(mask, (volume - mean) / std, torch.zeros_like(volume))


BRAIN_BOX_MINIMUM = 128
"""The smallest extent per axis of :func:`brain_box` (mmFormer's ``preprocess.py``, ``sup_128``)."""


def brain_box(volume: Tensor, minimum: int = BRAIN_BOX_MINIMUM) -> tuple[slice, slice, slice]:
    """The slices that crop a case to its brain: the bounding box of the nonzero voxels of ``volume``
    (``Float[D, H, W]``, e.g. the maximum of the modalities' absolute values), widened about its centre to at
    least ``minimum`` voxels per axis, as mmFormer's ``preprocess.py`` (YaoZhang93/mmFormer) crops BraTS
    before training and testing (its ``crop`` and ``sup_128``: an axis shorter than 128 grows by
    ``(128 - extent) // 2`` on each side, plus one at the end, and shifts back inside at 0; the end is
    exclusive, as the official slice ``x_min:x_max`` leaves the last nonzero voxel out, and clipped at the
    volume's edge without shifting back, so a box there may be shorter than 128). A volume with no nonzero
    voxel keeps its whole extent.

    >>> volume = torch.zeros(200, 10, 300)
    >>> volume[50:60, 2:5, 100:250] = 1.0
    >>> [(s.start, s.stop) for s in brain_box(volume)]
    [(0, 128), (0, 10), (100, 249)]
    """
    nonzero = torch.nonzero(volume)
    if nonzero.numel() == 0:
        return tuple(slice(0, n) for n in volume.shape)  # type: ignore[return-value]
    box = []
    for axis, size in enumerate(volume.shape):
        low, high = int(nonzero[:, axis].min()), int(nonzero[:, axis].max())
        if high - low < minimum:
            margin = (minimum - (high - low)) // 2
            low, high = low - margin, high + margin + 1
        if low < 0:
            low, high = 0, high - low
        box.append(slice(low, min(high, size)))
    return box[0], box[1], box[2]


def regions(target: Tensor) -> Tensor:
    """The three evaluated BraTS regions of a remapped label map.

    Args:
        target: ``Long[*spatial]`` (or ``Long[N, *spatial]``) with values in ``{0, 1, 2, 3}``.

    Returns:
        ``Bool[3, *target.shape]`` (the region axis is prepended): WT = {1, 2, 3}, TC = {1, 3},
        ET = {3}.

    >>> regions(torch.tensor([0, 1, 2, 3])).int().tolist()
    [[0, 1, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1]]
    """
    if target.is_floating_point() or target.dtype == torch.bool:
        raise TypeError(f"target must be an integer label tensor; got dtype {target.dtype}")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) > 3):
        found = torch.unique(target).tolist()
        raise ValueError(f"target values must be in {{0, 1, 2, 3}} (after 4 -> 3); got {found}")
    whole = target > 0
    core = (target == 1) | (target == 3)
    enhancing = target == 3
    return torch.stack([whole, core, enhancing])


class SharedEpoch:
    """The current epoch in shared memory, so DataLoader workers (also ``persistent_workers=True``) see
    :meth:`set` calls made in the main process after they started.

    >>> epoch = SharedEpoch()
    >>> epoch.set(3); epoch.get()
    3
    """

    def __init__(self) -> None:
        self._value: Tensor = torch.zeros((), dtype=torch.long).share_memory_()  # type: ignore[no-untyped-call]

    def get(self) -> int:
        """The epoch last set (0 initially)."""
        return int(self._value)

    def set(self, epoch: int) -> None:
        """Set the epoch (visible to every process holding this object)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int; got {epoch!r}")
        self._value.fill_(epoch)


def crop_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The generator behind sample ``index``'s random crop in ``epoch`` (independent of worker processes)."""
    return torch.Generator().manual_seed(hash((seed, epoch, index)) & 0x7FFF_FFFF_FFFF_FFFF)


def crop_corner(spatial: Sequence[int], size: Sequence[int], generator: torch.Generator) -> tuple[int, ...]:
    """A uniformly random corner for a ``size`` crop of a ``spatial`` volume (0 where it must pad)."""
    return tuple(
        int(torch.randint(0, s - c + 1, (1,), generator=generator)) if s > c else 0
        for s, c in zip(spatial, size, strict=False)
    )


def crop_or_pad(volume: Tensor, corner: Sequence[int], size: Sequence[int]) -> Tensor:
    """``volume[..., d:d+size0, h:h+size1, w:w+size2]``, zero-padded at the end where it is too small."""
    d, h, w = corner
    out = volume[..., d : d + size[0], h : h + size[1], w : w + size[2]]
    missing = [size[2] - out.shape[-1], size[1] - out.shape[-2], size[0] - out.shape[-3]]
    if any(missing):
        out = functional.pad(out, [0, missing[0], 0, missing[1], 0, missing[2]])
    return out


def random_crop(
    volume: Tensor, target: Tensor, size: Sequence[int], generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """The same random ``size`` crop of ``volume: Float[C, D, H, W]`` and ``target: Long[D, H, W]``.

    A dimension smaller than the crop is zero-padded at its end (label 0, background).

    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = random_crop(torch.ones(4, 10, 6, 9), torch.zeros(10, 6, 9, dtype=torch.long), (8, 8, 8), g)
    >>> tuple(x.shape), tuple(y.shape), float(x[:, :, 6:].abs().sum())
    ((4, 8, 8, 8), (8, 8, 8), 0.0)
    """
    if len(size) != 3 or any(int(s) < 1 for s in size):
        raise ValueError(f"crop size must be three positive ints; got {tuple(size)!r}")
    if tuple(volume.shape[1:]) != tuple(target.shape):
        raise ValueError(
            f"volume [C, D, H, W] and target [D, H, W] disagree: {tuple(volume.shape)} vs {tuple(target.shape)}"
        )
    corner = crop_corner(target.shape, size, generator)
    return crop_or_pad(volume, corner, size), crop_or_pad(target, corner, size)
