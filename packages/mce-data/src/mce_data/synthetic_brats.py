"""Synthetic BraTS cases written in the real layouts, so synthetic runs go through the real loaders.

Each case is an ellipsoidal "brain" holding one spherical tumour with the BraTS structure: a necrotic
core (label 1) inside an enhancing rim (label 4) inside oedema (label 2). Every modality is tissue noise
plus ``informativeness[m]`` times a modality-specific contrast per label (FLAIR shows the oedema,
T1ce the enhancing rim, T2 the core and oedema, T1 a dark core), so ``informativeness[m] = 0`` makes
modality ``m`` pure noise with respect to the labels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mce_data._informativeness import check_informativeness
from mce_data._optional import require
from mce_data.brats import MODALITIES, BraTS

# intensity offset per raw label (0 background, 1 necrosis, 2 oedema, 4 enhancing), per modality
_CONTRAST = {
    "flair": {0: 0.0, 1: 1.0, 2: 2.0, 4: 1.5},
    "t1": {0: 0.0, 1: -1.5, 2: -0.5, 4: -0.5},
    "t1ce": {0: 0.0, 1: -1.0, 2: 0.0, 4: 2.5},
    "t2": {0: 0.0, 1: 2.0, 2: 1.5, 4: 1.0},
}


def synthetic_case(
    shape: Sequence[int], informativeness: Mapping[str, float], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One case: ``int16`` volumes per modality and a ``uint8`` label map with values ``{0, 1, 2, 4}``."""
    axes = [np.linspace(-1.0, 1.0, s) for s in shape]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"))
    brain = (grid**2).sum(0) <= 0.85**2
    centre = rng.uniform(-0.35, 0.35, size=3).reshape(3, 1, 1, 1)
    radius = np.sqrt(((grid - centre) ** 2).sum(0))
    oedema_r = rng.uniform(0.3, 0.45)
    labels = np.zeros(tuple(shape), dtype=np.uint8)
    labels[radius <= oedema_r] = 2
    labels[radius <= 0.6 * oedema_r] = 4
    labels[radius <= 0.3 * oedema_r] = 1
    labels[~brain] = 0
    volumes = {}
    for m in MODALITIES:
        signal = np.zeros(tuple(shape))
        for raw, offset in _CONTRAST[m].items():
            signal[labels == raw] = offset
        tissue = 300.0 + 40.0 * rng.standard_normal(tuple(shape))
        image = np.where(brain, tissue + 60.0 * informativeness[m] * signal, 0.0)
        volumes[m] = np.where(brain, np.clip(np.round(image), 1, 32767), 0).astype(np.int16)
    return volumes, labels


def write_synthetic_brats(
    root: str | os.PathLike[str],
    n_cases: int = 4,
    shape: Sequence[int] = (48, 48, 48),
    informativeness: Mapping[str, float] | None = None,
    seed: int = 0,
    *,
    npy: bool = False,
    uncompressed_every: int = 2,
    missing: Mapping[str, Sequence[int]] | None = None,
) -> Path:
    """Write ``n_cases`` synthetic cases as the BraTS2020 NIfTI tree (and optionally the ``.npy`` layout).

    Args:
        root: output folder; cases go to ``root/BraTS20_Training_XXX/BraTS20_Training_XXX_<m>.nii[.gz]``.
        n_cases: number of cases (ids ``001`` upwards).
        shape: volume shape (small by default; real BraTS is 240×240×155).
        informativeness: per modality, how strongly its intensities depend on the labels
            in ``[0, 1]`` (0 = pure noise, 1 = full contrast); missing keys are 1.
        seed: the ``numpy`` random seed (same seed, same files).
        npy: also write ``root/BRATS2020_Training_none_npy`` (60 / 20 / 20 % train / val / test) by
            reading the NIfTI tree back through :class:`~mce_data.brats.BraTS` (cropped to the brain's
            bounding box, no minimum size).
        uncompressed_every: every ``k``-th case is written as ``.nii`` instead of ``.nii.gz``
            (both occur in the wild); ``0`` compresses all.
        missing: modality -> case indices (0-based) whose file is not written.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    >>> import tempfile
    >>> root = write_synthetic_brats(tempfile.mkdtemp(), n_cases=2, shape=(8, 8, 8))
    >>> sorted(p.name for p in (root / "BraTS20_Training_002").iterdir())[:2]
    ['BraTS20_Training_002_flair.nii', 'BraTS20_Training_002_seg.nii']
    """
    nibabel = require("nibabel")
    if isinstance(n_cases, bool) or not isinstance(n_cases, int) or n_cases < 1:
        raise ValueError(f"n_cases must be a positive int; got {n_cases!r}")
    if len(shape) != 3 or any(int(s) < 4 for s in shape):
        raise ValueError(f"shape must be three ints >= 4; got {tuple(shape)!r}")
    weights = check_informativeness(informativeness, MODALITIES, dict.fromkeys(MODALITIES, 1.0))
    rng = np.random.default_rng(seed)
    out = Path(root)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    for index in range(n_cases):
        case = f"BraTS20_Training_{index + 1:03d}"
        folder = out / case
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".nii" if uncompressed_every and (index + 1) % uncompressed_every == 0 else ".nii.gz"
        volumes, labels = synthetic_case(shape, weights, rng)
        for m, volume in volumes.items():
            if missing is not None and index in missing.get(m, ()):
                continue
            nibabel.save(nibabel.Nifti1Image(volume, affine), str(folder / f"{case}_{m}{suffix}"))
        nibabel.save(nibabel.Nifti1Image(labels, affine), str(folder / f"{case}_seg{suffix}"))
    if npy:
        from mce_data.brats_npy import write_brats_npy

        cases = [out / f"BraTS20_Training_{i + 1:03d}" for i in range(n_cases)]
        dataset = BraTS(out, cases=cases, brain_crop=False)
        ids = dataset.sample_ids()
        n_train, n_val = max(1, round(0.6 * n_cases)), round(0.2 * n_cases)
        splits = {"train": ids[:n_train], "val": ids[n_train : n_train + n_val], "test": ids[n_train + n_val :]}
        write_brats_npy(dataset, out / "BRATS2020_Training_none_npy", splits, min_size=(0, 0, 0))
    return out
