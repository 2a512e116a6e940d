"""BraTS2020 from the raw NIfTI tree, one case folder per patient, with missing modalities allowed.

Modalities, in this fixed order: ``("flair", "t1", "t1ce", "t2")``. Each is returned as
``Float[1, D, H, W]`` (channel-first), z-scored within the brain mask; ``D, H, W`` are the file's own
voxel axes ``(i, j, k)`` (240×240×155 for BraTS), never transposed. A modality whose file is absent
(BraTS2015 cases carry only FLAIR and T1c) is a zero volume with ``available = False``.
Target: ``Long[D, H, W]`` with labels ``{0, 1, 2, 3}`` (raw ``4 -> 3``); see
:func:`mce_data.brats_preprocess.regions` for WT / TC / ET.

The file names per case are a :class:`BraTSLayout`: :data:`BRATS20` is the official
``BraTS20_Training_XXX/BraTS20_Training_XXX_{flair,t1,t1ce,t2,seg}.nii[.gz]`` naming, and
:data:`BRATS2015_DEEPMEDIC` / :data:`TCGA_BRAINLES` read the stand-in cases shipped beside the
project. The preprocessed ``.npy`` layout of mmFormer / RFNet is :class:`~mce_data.brats_npy.BraTSNpy`.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from mce_data.brats_preprocess import (
    BRATS20_LABELS,
    SharedEpoch,
    brain_box,
    crop_corner,
    crop_generator,
    crop_or_pad,
    read_nifti,
    remap_labels,
    zscore_in_mask,
)
from mce_data.errors import DataFileError
from mce_data.sample import Sample

MODALITIES: tuple[str, ...] = ("flair", "t1", "t1ce", "t2")

LAYOUT_HELP = """\
BraTS2020 is distributed by the BraTS challenge (CBICA, University of Pennsylvania) after registration:
  https://www.med.upenn.edu/cbica/brats2020/data.html  (also mirrored on Kaggle as "BraTS2020 Training Data").
Place the training cases under one folder, one sub-folder per case:
  <root>/BraTS20_Training_001/BraTS20_Training_001_flair.nii.gz   (.nii or .nii.gz)
  <root>/BraTS20_Training_001/BraTS20_Training_001_t1.nii.gz
  <root>/BraTS20_Training_001/BraTS20_Training_001_t1ce.nii.gz
  <root>/BraTS20_Training_001/BraTS20_Training_001_t2.nii.gz
  <root>/BraTS20_Training_001/BraTS20_Training_001_seg.nii.gz     (labels 0, 1, 2, 4)
and load it with mce_data.BraTS(<root>). A case may lack modalities (they are reported missing).
Alternatively, the preprocessed layout of mmFormer / RFNet (BRATS2020_Training_none_npy/):
  vol/<case>_vol.npy  float32 [H, W, D, 4] in the order (flair, t1ce, t1, t2), z-scored in the brain
  seg/<case>_seg.npy  uint8 [H, W, D], labels 0, 1, 2, 3 (4 already mapped to 3)
  train.txt, val.txt, test.txt  one case name per line
loaded with mce_data.BraTSNpy(<.../BRATS2020_Training_none_npy>, split="train").
Other namings: pass a mce_data.BraTSLayout with file patterns per modality."""


@dataclass(frozen=True)
class BraTSLayout:
    """How the files of one case folder are named.

    Every pattern is relative to the case folder; ``{case}`` is replaced by the folder's name and
    shell wildcards are allowed (a pattern must then match exactly one file). The first pattern
    that names an existing file wins; no match means the modality is missing.

    Attributes:
        modalities: modality name (one of :data:`MODALITIES`) -> candidate patterns.
        segmentation: candidate patterns of the label map (required).
        brain_mask: candidate patterns of a brain mask (non-zero = brain); when empty or absent the
            mask is the set of voxels where any present modality is non-zero.
        labels: raw label value -> training label; any other value in a file is an error.
    """

    modalities: Mapping[str, tuple[str, ...]]
    segmentation: tuple[str, ...]
    brain_mask: tuple[str, ...] = ()
    labels: Mapping[int, int] = field(default_factory=lambda: dict(BRATS20_LABELS))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.modalities) - set(MODALITIES))
        if unknown:
            raise ValueError(f"layout modalities must be among {MODALITIES}; got unknown {unknown}")


BRATS20 = BraTSLayout(
    modalities={m: (f"{{case}}_{m}.nii.gz", f"{{case}}_{m}.nii") for m in MODALITIES},
    segmentation=("{case}_seg.nii.gz", "{case}_seg.nii"),
)
"""The official BraTS2020 naming (``.nii.gz`` or ``.nii``)."""

BRATS2015_DEEPMEDIC = BraTSLayout(
    modalities={
        "flair": ("Flair_subtrMeanDivStd.nii.gz",),
        "t1": ("T1_subtrMeanDivStd.nii.gz",),
        "t1ce": ("T1c_subtrMeanDivStd.nii.gz",),
        "t2": ("T2_subtrMeanDivStd.nii.gz",),
    },
    segmentation=("OTMultiClass.nii.gz",),
    brain_mask=("brainmask.nii.gz",),
    # BraTS2015: 1 necrosis, 2 oedema, 3 non-enhancing core, 4 enhancing -> the 2017+ convention.
    labels={0: 0, 1: 1, 2: 2, 3: 1, 4: 3},
)
"""BraTS2015 cases as shipped with the DeepMedic examples (FLAIR and T1c only; labels 0-4)."""

TCGA_BRAINLES = BraTSLayout(
    modalities={"flair": ("fla.nii.gz",), "t1": ("t1.nii.gz",), "t1ce": ("t1c.nii.gz",), "t2": ("t2.nii.gz",)},
    segmentation=("pseudo_labels/fusion_simple.nii.gz",),
)
"""TCGA-LGG cases from the BrainLesion tutorials (all four modalities, fused algorithm labels)."""


def resolve(case_dir: Path, patterns: Sequence[str]) -> Path | None:
    """The first file in ``case_dir`` named by one of ``patterns`` (see :class:`BraTSLayout`), or ``None``."""
    for pattern in patterns:
        name = pattern.replace("{case}", case_dir.name)
        if glob.has_magic(name):
            matches = sorted(case_dir.glob(name))
            if len(matches) > 1:
                raise ValueError(f"{case_dir}: pattern {pattern!r} matches {len(matches)} files: {matches[:3]}")
            if matches:
                return matches[0]
        elif (case_dir / name).is_file():
            return case_dir / name
    return None


def find_cases(root: Path, layout: BraTSLayout) -> list[Path]:
    """Every folder under ``root`` (itself included) holding a file of ``layout``, sorted by path."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such BraTS folder.\n{LAYOUT_HELP}")
    patterns = [p for ps in layout.modalities.values() for p in ps] + list(layout.segmentation)
    cases = []
    for folder, _, _ in os.walk(root):
        if resolve(Path(folder), patterns) is not None:
            cases.append(Path(folder))
    return sorted(cases)


class BraTS:
    """BraTS cases from NIfTI files, as :class:`~mce_data.sample.Sample` objects.

    Args:
        root: the folder holding the case folders (searched recursively).
        layout: file naming per case; :data:`BRATS20` by default.
        cases: explicit case folders (overrides the search), e.g. one split.
        crop_size: ``(d, h, w)`` for a random training crop (80³ in the paper), zero-padded where the
            volume is smaller; ``None`` returns whole volumes.
        seed: crops are drawn from ``torch.Generator`` seeded by ``(seed, epoch, index)``, so they
            are reproducible and independent of worker processes; see :meth:`set_epoch`.
        normalize: z-score each present modality within the brain mask (set ``False`` for files
            that are already normalised and should be returned verbatim).
        brain_crop: crop each case to its brain's bounding box, at least 128 voxels per axis
            (:func:`~mce_data.brats_preprocess.brain_box`), as mmFormer's ``preprocess.py`` does
            before training and testing; ``False`` keeps the whole 240×240×155 volume.

    >>> import tempfile
    >>> from mce_data.synthetic_brats import write_synthetic_brats
    >>> root = write_synthetic_brats(tempfile.mkdtemp(), n_cases=1, shape=(16, 16, 16), seed=0)
    >>> sample = BraTS(root, crop_size=(8, 8, 8))[0]
    >>> sample.id, tuple(sample.inputs["t1ce"].shape), tuple(sample.target.shape), sample.available
    ('BraTS20_Training_001', (1, 8, 8, 8), (8, 8, 8), (True, True, True, True))
    """

    modalities: tuple[str, ...] = MODALITIES

    def __init__(
        self,
        root: str | os.PathLike[str],
        layout: BraTSLayout = BRATS20,
        *,
        cases: Sequence[str | os.PathLike[str]] | None = None,
        crop_size: Sequence[int] | None = None,
        seed: int = 0,
        normalize: bool = True,
        brain_crop: bool = True,
    ) -> None:
        if not isinstance(layout, BraTSLayout):
            raise TypeError(f"layout must be a BraTSLayout; got {type(layout).__name__}")
        if crop_size is not None and (len(crop_size) != 3 or any(int(c) < 1 for c in crop_size)):
            raise ValueError(f"crop_size must be None or three positive ints; got {crop_size!r}")
        self.root = Path(root)
        self.layout = layout
        self.cases = [Path(c) for c in cases] if cases is not None else find_cases(self.root, layout)
        if not self.cases:
            raise FileNotFoundError(f"{self.root}: no BraTS case folders found for this layout.\n{LAYOUT_HELP}")
        self.crop_size = tuple(int(c) for c in crop_size) if crop_size is not None else None
        self.seed = seed
        self._epoch = SharedEpoch()
        self.normalize = normalize
        self.brain_crop = brain_crop

    def __len__(self) -> int:
        return len(self.cases)

    def sample_ids(self) -> list[str]:
        """The case folder names, in dataset order."""
        return [case.name for case in self.cases]

    @property
    def epoch(self) -> int:
        """The epoch of the crops (shared with DataLoader workers; see :meth:`set_epoch`)."""
        return self._epoch.get()

    def set_epoch(self, epoch: int) -> None:
        """Draw a fresh set of random crops (call once per epoch, before iterating the DataLoader).

        The epoch lives in shared memory, so workers see it even with ``persistent_workers=True``.
        """
        self._epoch.set(epoch)

    def crop_generator(self, index: int) -> torch.Generator:
        """The generator behind sample ``index``'s crop in the current epoch."""
        return crop_generator(self.seed, self.epoch, index)

    def available_matrix(self) -> Tensor:
        """``Bool[N, 4]``: which modality files each case has (file lookups only, nothing is read)."""
        rows = [
            [resolve(case, self.layout.modalities.get(m, ())) is not None for m in MODALITIES] for case in self.cases
        ]
        return torch.tensor(rows, dtype=torch.bool).reshape(len(self.cases), len(MODALITIES))

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} cases")
        case = self.cases[index]
        paths = {m: resolve(case, self.layout.modalities.get(m, ())) for m in MODALITIES}
        seg_path = resolve(case, self.layout.segmentation)
        if seg_path is None:
            raise FileNotFoundError(f"{case}: no segmentation file matching {list(self.layout.segmentation)}")
        if all(p is None for p in paths.values()):
            raise FileNotFoundError(f"{case}: none of the modality files {dict(self.layout.modalities)} exists")
        seg = read_nifti(seg_path, as_float=False)
        target = remap_labels(seg, self.layout.labels, str(seg_path))
        volumes: dict[str, Tensor] = {}
        for m, path in paths.items():
            if path is not None:
                volumes[m] = torch.from_numpy(read_nifti(path))
                if tuple(volumes[m].shape) != tuple(target.shape):
                    raise DataFileError(
                        path,
                        f"shape {tuple(volumes[m].shape)} differs from the segmentation "
                        f"{seg_path.name} {tuple(target.shape)}",
                    )
        box = brain_box(torch.stack([v.abs() for v in volumes.values()]).amax(dim=0)) if self.brain_crop else None
        if self.normalize:
            mask = self._brain_mask(case, volumes, tuple(target.shape))
            volumes = {m: zscore_in_mask(v, mask) for m, v in volumes.items()}
        if box is not None:
            volumes, target = {m: v[box] for m, v in volumes.items()}, target[box]
        shape = tuple(target.shape)
        inputs = {m: volumes.get(m, torch.zeros(shape)).unsqueeze(0) for m in MODALITIES}
        if self.crop_size is not None:
            corner = crop_corner(shape, self.crop_size, self.crop_generator(index % len(self)))
            inputs = {m: crop_or_pad(v, corner, self.crop_size) for m, v in inputs.items()}
            target = crop_or_pad(target, corner, self.crop_size)
        return Sample(case.name, inputs, tuple(m in volumes for m in MODALITIES), target)

    def _brain_mask(self, case: Path, volumes: Mapping[str, Tensor], shape: tuple[int, ...]) -> Tensor:
        path = resolve(case, self.layout.brain_mask)
        if path is None:
            return torch.stack([v != 0 for v in volumes.values()]).any(dim=0)
        mask = torch.from_numpy(read_nifti(path)) != 0
        if tuple(mask.shape) != shape:
            raise DataFileError(path, f"brain mask shape {tuple(mask.shape)} differs from the volumes {shape}")
        return mask
