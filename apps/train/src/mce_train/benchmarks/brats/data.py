"""BraTS' data wiring: which layout is on disk, the paper's case split, training crops drawn afresh.

Data (``<data>`` is ``--data``, else ``$MCE_DATA_DIR``, else ``../shared/data``; the BraTS folder is
``<data>/brats`` when it exists, else ``<data>`` itself), first match wins:

1. mmFormer's preprocessed layout (``BRATS2020_Training_none_npy/`` with ``vol/``, ``seg/`` and
   ``train.txt`` / ``val.txt`` / ``test.txt``): its own split files.
2. The official NIfTI tree ``BraTS20_Training_XXX/BraTS20_Training_XXX_{flair,t1,t1ce,t2,seg}.nii[.gz]``.
3. Stand-in real cases in other namings (the BraTS2015 DeepMedic and TCGA-LGG BrainLes examples);
   a modality a case lacks is reported missing. NOT BraTS2020: the run says so.
4. Otherwise synthetic cases written in the BraTS20 layout (:func:`mce_data.write_synthetic_brats`).

``--quick`` always uses small synthetic volumes (a CPU cannot slide windows over 240×240×155
volumes in a smoke run). Layouts 2-4 are split by :func:`split_cases`: the paper's 219 / 50 / 100 of
369 cases, proportionally for other counts, per availability pattern, with a fixed seed (every run
seed sees the same test cases).

NIfTI cases (layouts 2-3) are cropped to the brain's bounding box, at least 128 voxels per axis, as
mmFormer's ``preprocess.py`` crops them before its ``.npy`` layout (:func:`mce_data.brats_preprocess.brain_box`).

Training crops are drawn afresh at every access (:class:`FreshCrops`); validation and test read
whole volumes and predict them by sliding-window inference with the training crop size and 50 %
overlap (:func:`sliding_window_predictor`), every subset from one encoder pass per window.

Sizes. ``paper``: Table 1 (400 epochs at batch 1, AdamW, lr 2e-4, poly decay p = 0.9; Dice + CE),
80³ crops, mmFormer's encoder widths. ``quick``: 24³ synthetic volumes, 16³ crops, 4-16 channels.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import torch

from mce_data import (
    BRATS20,
    BRATS2015_DEEPMEDIC,
    TCGA_BRAINLES,
    BraTS,
    BraTSLayout,
    BraTSNpy,
    write_synthetic_brats,
)
from mce_data.brats import MODALITIES, find_cases, resolve
from mce_data.sample import Sample
from mce_train.benchmarks.base import Splits
from mce_train.benchmarks.brats import models as brats
from mce_train.caching import write_once

PAPER_SPLIT = (219, 50, 100)
"""Train / validation / test cases of the paper's 369 (Sec. 4.1)."""
QUICK_SHAPE, QUICK_CASES = (24, 24, 24), 12
PAPER_SYNTHETIC_SHAPE, PAPER_SYNTHETIC_CASES = (96, 96, 96), 60
STAND_INS: tuple[tuple[str, BraTSLayout], ...] = (
    ("BraTS2015 (DeepMedic examples)", BRATS2015_DEEPMEDIC),
    ("TCGA-LGG (BrainLes examples)", TCGA_BRAINLES),
)


class FreshCrops:
    """A cropping BraTS dataset whose every access draws a new random crop.

    The mce-data loaders key their crop on ``(seed, epoch, index)``; this wrapper sets the epoch
    from the global torch generator before each read, so crops differ from epoch to epoch without
    the trainer knowing about epochs. The global generator is seeded by the trainer and saved in
    its checkpoints (in DataLoader workers, each worker's generator is seeded by PyTorch).
    """

    def __init__(self, base: BraTS | BraTSNpy | CaseList, crop_size: int) -> None:
        self.base, self.crop_size = base, crop_size
        """The training crops' edge (voxels): the network's positional embedding lives on its bottleneck grid."""
        self.modalities: tuple[str, ...] = tuple(base.modalities)

    def __len__(self) -> int:
        return len(self.base)

    def sample_ids(self) -> list[str]:
        return list(self.base.sample_ids())

    def __getitem__(self, index: int) -> Sample:
        self.base.set_epoch(int(torch.randint(0, 2**62, ())))
        return self.base[index]


class CaseList:
    """Several :class:`mce_data.BraTS` datasets (e.g. one per file naming) read as one, in order."""

    modalities: tuple[str, ...] = MODALITIES

    def __init__(self, parts: Sequence[BraTS]) -> None:
        self.parts = [part for part in parts if len(part)]
        self.owner = [(p, i) for p, part in enumerate(self.parts) for i in range(len(part))]

    def __len__(self) -> int:
        return len(self.owner)

    def sample_ids(self) -> list[str]:
        return [case for part in self.parts for case in part.sample_ids()]

    def set_epoch(self, epoch: int) -> None:
        for part in self.parts:
            part.set_epoch(epoch)

    def __getitem__(self, index: int) -> Sample:
        part, local = self.owner[index]
        return self.parts[part][local]


def split_cases(
    ids: Sequence[str], groups: Sequence[Hashable] | None = None, *, seed: int = 0
) -> tuple[list[str], list[str], list[str]]:
    """Deterministic train / val / test ids in the paper's proportions (219 / 50 / 100 of 369).

    Within each group (e.g. the cases' availability pattern) the sorted ids are shuffled with
    ``seed``; ``round(n * 50 / 369)`` go to validation, ``round(n * 100 / 369)`` to test, the rest
    (at least one) to training. Each list is returned sorted.

    >>> train, val, test = split_cases([f"case{i:03d}" for i in range(369)])
    >>> len(train), len(val), len(test)
    (219, 50, 100)
    """
    if groups is not None and len(groups) != len(ids):
        raise ValueError(f"groups needs one entry per id ({len(ids)}); got {len(groups)}")
    labels = list(groups) if groups is not None else [0] * len(ids)
    total = sum(PAPER_SPLIT)
    train: list[str] = []
    val: list[str] = []
    test: list[str] = []
    for group in sorted(set(labels), key=repr):
        members = sorted(i for i, g in zip(ids, labels, strict=True) if g == group)
        order = torch.randperm(len(members), generator=torch.Generator().manual_seed(seed)).tolist()
        shuffled = [members[k] for k in order]
        n_val = round(len(members) * PAPER_SPLIT[1] / total)
        n_test = min(round(len(members) * PAPER_SPLIT[2] / total), len(members) - n_val - 1)
        val += shuffled[:n_val]
        test += shuffled[n_val : n_val + n_test]
        train += shuffled[n_val + n_test :]
    return sorted(train), sorted(val), sorted(test)


def _folder(data: Path) -> Path:
    return data / "brats" if (data / "brats").is_dir() else data


def _npy_root(folder: Path) -> Path | None:
    for root in (folder / "BRATS2020_Training_none_npy", folder):
        if (root / "vol").is_dir() and (root / "seg").is_dir() and (root / "train.txt").is_file():
            return root
    return None


def _synthetic(cache: Path, size: str) -> Path:
    """The synthetic BraTS20 tree for ``size`` under ``cache``, written once (atomically)."""
    quick = size == "quick"
    return write_once(
        cache / ("synthetic-brats-quick" if quick else "synthetic-brats"),
        lambda folder: write_synthetic_brats(
            folder,
            n_cases=QUICK_CASES if quick else PAPER_SYNTHETIC_CASES,
            shape=QUICK_SHAPE if quick else PAPER_SYNTHETIC_SHAPE,
            seed=0,
        ),
    )


def _nifti_splits(parts: Sequence[tuple[BraTSLayout, list[Path]]], crop: Sequence[int], seed: int) -> list[Any]:
    """Train (fresh crops), val and test datasets over the case folders of ``parts``, split by :func:`split_cases`.

    Cases are grouped by naming layout and by which modality files they hold, so each split gets its
    share of every availability pattern.
    """
    owner: dict[str, tuple[int, Path]] = {}
    groups: list[Hashable] = []
    for index, (layout, cases) in enumerate(parts):
        for case in cases:
            owner[case.name] = (index, case)
            groups.append((index, tuple(resolve(case, layout.modalities.get(m, ())) is not None for m in MODALITIES)))
    ids = [case.name for _, cases in parts for case in cases]
    if len(owner) != len(ids):
        raise ValueError(f"BraTS case folder names must be unique; found {len(ids) - len(owner)} duplicates")
    datasets: list[Any] = []
    for split, names in enumerate(split_cases(ids, groups)):
        readers = []
        for index, (layout, _) in enumerate(parts):
            mine = [owner[name][1] for name in names if owner[name][0] == index]
            if mine:
                size = crop if split == 0 else None
                readers.append(BraTS(mine[0].parent, layout, cases=mine, crop_size=size, seed=seed))
        datasets.append(FreshCrops(CaseList(readers), crop[0]) if split == 0 else CaseList(readers))
    return datasets


def brats_splits(data: Path, cache: Path, seed: int, size: str) -> Splits:
    """The train (random crops) / val / test (whole volumes) datasets and where they came from."""
    config = brats.QUICK if size == "quick" else brats.PAPER
    crop = (config.patch,) * 3
    folder = _folder(data)
    if size != "quick" and (npy := _npy_root(folder)) is not None:
        train = BraTSNpy(npy, "train", crop_size=crop, seed=seed)
        val, test = BraTSNpy(npy, "val"), BraTSNpy(npy, "test")
        return Splits(
            FreshCrops(train, crop[0]), val, test, f"BraTS2020 (mmFormer .npy layout, its split files) in {npy}"
        )
    cases = find_cases(folder, BRATS20) if size != "quick" and folder.is_dir() else []
    if cases:
        train, val, test = _nifti_splits([(BRATS20, cases)], crop, seed)
        return Splits(train, val, test, f"BraTS2020 NIfTI cases in {folder} ({_counts(train, val, test)})")
    stand_ins = [(layout, find_cases(folder, layout)) for _, layout in STAND_INS] if size != "quick" else []
    stand_ins = [(layout, found) for layout, found in stand_ins if found]
    if folder.is_dir() and stand_ins:
        train, val, test = _nifti_splits(stand_ins, crop, seed)
        found = {id(layout): len(cases) for layout, cases in stand_ins}
        names = ", ".join(f"{found[id(layout)]} {name}" for name, layout in STAND_INS if id(layout) in found)
        return Splits(
            train,
            val,
            test,
            f"STAND-IN real MRI, NOT BraTS2020: {names} cases in {folder} ({_counts(train, val, test)}; "
            "modalities a case lacks count as missing)",
        )
    root = _synthetic(cache, size)
    train, val, test = _nifti_splits([(BRATS20, find_cases(root, BRATS20))], crop, seed)
    reason = "--quick always uses small synthetic volumes" if size == "quick" else f"no BraTS cases in {folder}"
    return Splits(
        train, val, test, f"SYNTHETIC BraTS2020-layout cases in {root} ({_counts(train, val, test)}; {reason})"
    )


def _counts(*datasets: Any) -> str:
    return "/".join(str(len(d)) for d in datasets) + " train/val/test cases"
