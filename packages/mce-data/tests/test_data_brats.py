"""BraTS loaders: the NIfTI tree, the .npy layout, preprocessing, bad files and the real stand-in cases."""

from __future__ import annotations

import doctest
import functools
import gzip
import importlib
import json
import operator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mce_data._optional import require
from mce_data.brats import BRATS20, BRATS2015_DEEPMEDIC, LAYOUT_HELP, MODALITIES, TCGA_BRAINLES, BraTS, BraTSLayout
from mce_data.brats_npy import BraTSNpy, write_brats_npy
from mce_data.brats_preprocess import brain_box, crop_corner, regions, remap_labels
from mce_data.collate import collate_incomplete
from mce_data.incomplete import IncompleteDataset
from mce_data.masks import MissingMask
from mce_data.sample import MultiModalDataset
from mce_data.synthetic_brats import write_synthetic_brats

SHAPE = (16, 16, 16)
nibabel = require("nibabel")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_brats(tmp_path_factory.mktemp("brats"), n_cases=5, shape=SHAPE, seed=3, npy=True)


def _raw(path: Path) -> np.ndarray:
    return np.asarray(nibabel.load(str(path)).dataobj)


def _save(array: np.ndarray, path: Path) -> None:
    nibabel.save(nibabel.Nifti1Image(array, np.eye(4)), str(path))


def _copy_case(tree: Path, target: Path, case: str = "BraTS20_Training_001") -> Path:
    folder = target / case
    folder.mkdir(parents=True)
    for file in (tree / case).iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    return folder


@pytest.mark.parametrize(
    "name",
    [
        "mce_data.brats",
        "mce_data.brats_npy",
        "mce_data.brats_preprocess",
        "mce_data.synthetic_brats",
        "mce_data.sliding_window",
    ],
)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_tree_loads_every_case_with_labels_remapped(tree: Path) -> None:
    data = BraTS(tree)
    assert isinstance(data, MultiModalDataset)
    assert data.modalities == ("flair", "t1", "t1ce", "t2")
    assert data.sample_ids() == [f"BraTS20_Training_{i:03d}" for i in range(1, 6)]
    suffixes = {next((tree / case).glob("*_seg*")).name.split("_seg")[1] for case in data.sample_ids()}
    assert suffixes == {".nii", ".nii.gz"}  # both compressions went through the loader
    for index, case in enumerate(data.sample_ids()):
        sample = data[index]
        raw = _raw(next((tree / case).glob("*_seg*")))
        assert set(np.unique(raw).tolist()) == {0, 1, 2, 4}
        assert sample.target.dtype == torch.int64
        assert torch.equal(sample.target, torch.from_numpy(np.where(raw == 4, 3, raw).astype(np.int64)))
        assert sample.available == (True, True, True, True)
        assert all(tuple(v.shape) == (1, *SHAPE) for v in sample.inputs.values())


def test_zscore_uses_the_brain_mask(tree: Path) -> None:
    sample = BraTS(tree)[0]
    raw = _raw(tree / "BraTS20_Training_001" / "BraTS20_Training_001_t2.nii.gz").astype(np.float64)
    brain = raw != 0  # every modality shares the synthetic brain, so the union equals this mask
    expected = np.where(brain, (raw - raw[brain].mean()) / raw[brain].std(), 0.0)
    np.testing.assert_allclose(sample.inputs["t2"][0].numpy(), expected, atol=1e-5)
    assert not BraTS(tree, normalize=False)[0].inputs["t2"][0].numpy().min() < 0


def test_absent_modality_is_zero_and_flagged(tmp_path: Path) -> None:
    root = write_synthetic_brats(tmp_path, n_cases=2, shape=(8, 8, 8), missing={"t1": [0], "t2": [0, 1]})
    data = BraTS(root)
    first, second = data[0], data[1]
    assert first.available == (True, False, True, False)
    assert second.available == (True, True, True, False)
    assert torch.count_nonzero(first.inputs["t1"]) == 0
    assert first.inputs["t1"].shape == (1, 8, 8, 8)
    assert torch.count_nonzero(second.inputs["t1"]) > 0


def test_random_crop_is_reproducible_and_a_window_of_the_volume(tree: Path) -> None:
    whole = BraTS(tree)[2]
    data = BraTS(tree, crop_size=(8, 8, 8), seed=11)
    crop = data[2]
    d, h, w = crop_corner(SHAPE, (8, 8, 8), data.crop_generator(2))
    assert torch.equal(crop.inputs["flair"], whole.inputs["flair"][:, d : d + 8, h : h + 8, w : w + 8])
    assert torch.equal(crop.target, whole.target[d : d + 8, h : h + 8, w : w + 8])
    assert torch.equal(BraTS(tree, crop_size=(8, 8, 8), seed=11)[2].inputs["t1"], crop.inputs["t1"])
    corners = set()
    for epoch in range(6):
        data.set_epoch(epoch)
        corners.add(crop_corner(SHAPE, (8, 8, 8), data.crop_generator(2)))
    assert len(corners) > 1


def test_crop_larger_than_volume_pads_with_zeros(tree: Path) -> None:
    sample = BraTS(tree, crop_size=(20, 16, 4))[0]
    assert sample.inputs["flair"].shape == (1, 20, 16, 4)
    assert torch.count_nonzero(sample.inputs["flair"][:, 16:]) == 0
    assert torch.count_nonzero(sample.target[16:]) == 0


def test_regions_by_hand() -> None:
    target = torch.tensor([[0, 1], [2, 3]])
    wt, tc, et = regions(target)
    assert wt.tolist() == [[False, True], [True, True]]
    assert tc.tolist() == [[False, True], [False, True]]
    assert et.tolist() == [[False, False], [False, True]]
    with pytest.raises(ValueError, match=r"\{0, 1, 2, 3\}"):
        regions(torch.tensor([0, 4]))
    with pytest.raises(TypeError, match="integer"):
        regions(torch.zeros(3))


def test_label_errors_name_the_file(tree: Path, tmp_path: Path) -> None:
    folder = _copy_case(tree, tmp_path)
    seg_path = folder / "BraTS20_Training_001_seg.nii.gz"
    seg = _raw(seg_path)
    for bad, message in [(3, r"\[3\] are outside"), (7, r"\[7\] are outside")]:
        broken = seg.copy()
        broken[0, 0, 0] = bad
        _save(broken, seg_path)
        with pytest.raises(ValueError, match=message) as info:
            BraTS(tmp_path)[0]
        assert str(seg_path) in str(info.value)
    _save(seg.astype(np.float32) + 0.5, seg_path)
    with pytest.raises(ValueError, match="whole numbers"):
        BraTS(tmp_path)[0]
    with pytest.raises(ValueError, match="outside"):
        remap_labels(np.array([-1, 0]), {0: 0}, "x.nii")


def test_truncated_and_corrupt_files_raise_with_their_name(tree: Path, tmp_path: Path) -> None:
    folder = _copy_case(tree, tmp_path)
    flair = folder / "BraTS20_Training_001_flair.nii.gz"
    data = flair.read_bytes()
    flair.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable NIfTI") as info:
        BraTS(tmp_path)[0]
    assert str(flair) in str(info.value)
    flair.write_bytes(gzip.compress(b"definitely not a nifti header" * 20))
    with pytest.raises(ValueError, match=f"{flair.name}.*not a readable NIfTI"):
        BraTS(tmp_path)[0]


def test_shape_mismatch_and_missing_files(tree: Path, tmp_path: Path) -> None:
    folder = _copy_case(tree, tmp_path)
    t2 = folder / "BraTS20_Training_001_t2.nii.gz"
    _save(np.ones((16, 16, 15), dtype=np.int16), t2)
    with pytest.raises(ValueError, match=r"t2.nii.gz: shape \(16, 16, 15\) differs"):
        BraTS(tmp_path)[0]
    (folder / "BraTS20_Training_001_seg.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="no segmentation file"):
        BraTS(tmp_path)[0]
    with pytest.raises(FileNotFoundError, match=r"BraTS20_Training_001_flair\.nii\.gz"):
        BraTS(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as info:
        BraTS(tmp_path / "empty")
    assert LAYOUT_HELP in str(info.value)
    with pytest.raises(ValueError, match="unknown"):
        BraTSLayout(modalities={"dwi": ("x.nii",)}, segmentation=("s.nii",))


def test_npy_layout_matches_the_nifti_tree(tree: Path) -> None:
    npy_root = tree / "BRATS2020_Training_none_npy"
    splits = {s: BraTSNpy(npy_root, split=s).sample_ids() for s in ("train", "val", "test")}
    assert [len(v) for v in splits.values()] == [3, 1, 1]
    assert sorted(functools.reduce(operator.iadd, splits.values(), [])) == BraTS(tree).sample_ids()
    vol = np.load(npy_root / "vol" / "BraTS20_Training_002_vol.npy")
    nifti = BraTS(tree)[1]
    window = _mmformer_box(nifti.inputs)
    assert vol.shape == (*[w.stop - w.start for w in window], 4)
    assert vol.shape[:3] != SHAPE  # cropped to the brain
    assert vol.dtype == np.float32
    # mmFormer's channel order is (flair, t1ce, t1, t2)
    for channel, modality in enumerate(("flair", "t1ce", "t1", "t2")):
        np.testing.assert_array_equal(vol[..., channel], nifti.inputs[modality][0].numpy()[window])
    sample = BraTSNpy(npy_root, split="train")[1]
    assert sample.id == "BraTS20_Training_002"
    for modality in MODALITIES:
        assert torch.equal(sample.inputs[modality][0], nifti.inputs[modality][0][window])
    assert torch.equal(sample.target, nifti.target[window])
    assert int(nifti.target.count_nonzero()) == int(sample.target.count_nonzero())  # no tumour voxel lost
    assert len(BraTSNpy(npy_root, split=None)) == 5


def _mmformer_box(inputs: dict[str, torch.Tensor]) -> tuple[slice, ...]:
    """mmFormer preprocess.py's crop, written out here: [max(0, min - 1), min(dim, max + 1)) per axis."""
    brain = torch.stack([v[0] for v in inputs.values()]).ne(0).any(dim=0).numpy()
    hits = np.nonzero(brain)
    return tuple(
        slice(max(0, int(h.min()) - 1), min(dim, int(h.max()) + 1)) for h, dim in zip(hits, brain.shape, strict=True)
    )


def test_write_brats_npy_crops_to_the_brain_and_keeps_the_crop_size(tmp_path: Path) -> None:
    root = write_synthetic_brats(tmp_path, n_cases=1, shape=(24, 20, 16), seed=2)
    whole = BraTS(root)[0]
    window = _mmformer_box(whole.inputs)
    bare = write_brats_npy(BraTS(root, brain_crop=False), tmp_path / "bare", min_size=(0, 0, 0))
    assert np.load(bare / "seg" / "BraTS20_Training_001_seg.npy").shape == tuple(w.stop - w.start for w in window)
    assert json.loads((bare / "bbox.json").read_text())["BraTS20_Training_001"] == [[w.start, w.stop] for w in window]
    sized = write_brats_npy(BraTS(root, brain_crop=False), tmp_path / "sized", min_size=(22, 24, 8))
    vol = np.load(sized / "vol" / "BraTS20_Training_001_vol.npy")
    depth = window[2].stop - window[2].start
    assert 8 <= depth < 16
    assert vol.shape == (22, 24, depth, 4)  # widened to 22 inside the volume, padded to 24, the box kept
    (a, b), _, _ = json.loads((sized / "bbox.json").read_text())["BraTS20_Training_001"]
    assert b - a == 22
    assert a <= window[0].start <= window[0].stop <= b
    np.testing.assert_array_equal(vol[:, :20, :, 0], whole.inputs["flair"][0].numpy()[a:b, :, window[2]])
    assert not vol[:, 20:].any()
    crop = BraTSNpy(sized, split="train", crop_size=(22, 24, 8))[0]
    assert crop.inputs["t1"].shape == (1, 22, 24, 8)


def test_npy_crop_and_availability_sidecar(tmp_path: Path) -> None:
    root = write_synthetic_brats(tmp_path, n_cases=2, shape=(8, 8, 8), missing={"t2": [1]})
    out = write_brats_npy(BraTS(root, brain_crop=False), tmp_path / "npy")
    data = BraTSNpy(out, split="train", crop_size=(6, 10, 4))
    assert data[0].available == (True, True, True, True)
    assert data[1].available == (True, True, True, False)
    assert data[1].inputs["t2"].shape == (1, 6, 10, 4)
    assert torch.count_nonzero(data[1].inputs["t2"]) == 0
    assert torch.count_nonzero(data[0].target[:, 8:]) == 0


def test_npy_bad_files(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "npy"
    (out / "vol").mkdir(parents=True)
    (out / "seg").mkdir()
    (out / "train.txt").write_text("a\nb\nc\n")
    np.save(out / "vol" / "a_vol.npy", np.zeros((4, 4, 4, 4), np.float32))
    np.save(out / "seg" / "a_seg.npy", np.full((4, 4, 4), 4, np.uint8))
    np.save(out / "vol" / "b_vol.npy", np.zeros((4, 4, 4, 3), np.float32))
    np.save(out / "seg" / "b_seg.npy", np.zeros((4, 4, 4), np.uint8))
    np.save(out / "vol" / "c_vol.npy", np.zeros((4, 4, 4, 4), np.float32))
    (out / "vol" / "c_vol.npy").write_bytes((out / "vol" / "c_vol.npy").read_bytes()[:100])
    np.save(out / "seg" / "c_seg.npy", np.zeros((4, 4, 4), np.uint8))
    data = BraTSNpy(out)
    with pytest.raises(ValueError, match=r"a_seg.npy: label values \[4\] are outside"):
        data[0]
    with pytest.raises(ValueError, match=r"b_vol.npy: expected shape \[H, W, D, 4\]"):
        data[1]
    with pytest.raises(ValueError, match=r"c_vol\.npy: not a readable \.npy"):
        data[2]
    with pytest.raises(FileNotFoundError, match=r"val\.txt"):
        BraTSNpy(out, split="val")
    with pytest.raises(ValueError, match="split must be one of"):
        BraTSNpy(out, split="training")


def test_informativeness_zero_makes_a_modality_label_blind(tmp_path: Path) -> None:
    root = write_synthetic_brats(tmp_path, n_cases=1, shape=(32, 32, 32), informativeness={"flair": 0.0}, seed=1)
    sample = BraTS(root)[0]
    tumour = sample.target > 0
    brain = sample.inputs["t2"][0] != 0
    for modality, informative in [("flair", False), ("t1ce", True)]:
        image = sample.inputs[modality][0]
        gap = abs(float(image[tumour].mean() - image[brain & ~tumour].mean()))
        assert (gap > 0.5) == informative, (modality, gap)
    with pytest.raises(ValueError, match="informativeness keys"):
        write_synthetic_brats(tmp_path / "x", n_cases=1, informativeness={"dwi": 1.0})


def test_real_brats2015_case_has_flair_and_t1ce_only(data_root: Path) -> None:
    case = data_root / "brats" / "deepmedic_brats2015" / "train" / "brats_2013_pat0005_1"
    if not case.is_dir():
        pytest.skip(f"real BraTS stand-in data not found at {case} (set MCE_DATA_DIR)")
    data = BraTS(case.parent, BRATS2015_DEEPMEDIC, cases=[case], crop_size=(80, 80, 80), seed=0)
    sample = data[0]
    assert sample.id == "brats_2013_pat0005_1"
    assert sample.available == (True, False, True, False)
    assert all(v.shape == (1, 80, 80, 80) for v in sample.inputs.values())
    assert torch.count_nonzero(sample.inputs["t1"]) == 0
    assert torch.count_nonzero(sample.inputs["t2"]) == 0
    assert set(torch.unique(sample.target).tolist()) <= {0, 1, 2, 3}
    with pytest.raises(ValueError, match=r"OTMultiClass.nii.gz: label values \[3\] are outside"):
        BraTS(case.parent, BraTSLayout(BRATS2015_DEEPMEDIC.modalities, ("OTMultiClass.nii.gz",)), cases=[case])[0]


def test_real_tcga_case_has_all_four(data_root: Path) -> None:
    root = data_root / "brats" / "brainles_tcga_lgg"
    if not root.is_dir():
        pytest.skip(f"real BraTS stand-in data not found at {root} (set MCE_DATA_DIR)")
    data = BraTS(root, TCGA_BRAINLES)
    assert data.sample_ids() == ["TCGA-DU-7294", "TCGA-FG-6692"]
    sample = data[0]
    assert sample.available == (True, True, True, True)
    assert BraTS(root, TCGA_BRAINLES, brain_crop=False)[0].target.shape == (240, 240, 155)
    assert sample.target.shape == (128, 161, 130)  # the brain's box (54..182, 51..212, 9..139), end exclusive
    brain = sample.inputs["t1"][0] != 0
    assert abs(float(sample.inputs["t1"][0][brain].mean())) < 1e-3
    assert BRATS20.segmentation[0] == "{case}_seg.nii.gz"


@pytest.mark.parametrize("kind", ["nifti", "npy"])
def test_set_epoch_reaches_persistent_workers(tree: Path, kind: str) -> None:
    def make() -> BraTS | BraTSNpy:
        if kind == "nifti":
            return BraTS(tree, crop_size=(6, 6, 6), seed=5)
        return BraTSNpy(tree / "BRATS2020_Training_none_npy", split=None, crop_size=(6, 6, 6), seed=5)

    base = make()
    data = IncompleteDataset(base, MissingMask.full(base.sample_ids(), base.modalities))
    loader = DataLoader(data, batch_size=2, num_workers=2, persistent_workers=True, collate_fn=collate_incomplete)
    reference = make()  # single process, epoch set directly
    crops = []
    for epoch in range(2):
        data.set_epoch(epoch)  # forwarded to the base, seen by the already running workers
        batches = list(loader)
        reference.set_epoch(epoch)
        expected = torch.stack([reference[i].target for i in range(len(reference))])
        got = torch.cat([b.target for b in batches])
        assert torch.equal(got, expected)
        crops.append(got)
    assert not torch.equal(crops[0], crops[1])


def test_cases_are_cropped_to_the_brain_as_mmformer_preprocesses_them(tmp_path: Path) -> None:
    """A 160-voxel axis with brain at 10..149 keeps 10:149 (extent >= 128: mmFormer's exclusive end); an 8-voxel
    axis is widened to 128 and clipped back to 8; the labels are cropped with the images."""
    folder = tmp_path / "BraTS20_Training_001"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = {m: np.zeros((160, 8, 8), dtype=np.float32) for m in MODALITIES}
    for image in images.values():
        image[10:150] = rng.uniform(1.0, 2.0, size=(140, 8, 8))
    seg = np.zeros((160, 8, 8), dtype=np.int16)
    seg[70:80, 2:4, 2:4] = 4
    for m, image in images.items():
        _save(image, folder / f"BraTS20_Training_001_{m}.nii.gz")
    _save(seg, folder / "BraTS20_Training_001_seg.nii.gz")
    cropped = BraTS(tmp_path, normalize=False)[0]
    assert tuple(cropped.target.shape) == (139, 8, 8)
    for m in MODALITIES:
        assert torch.equal(cropped.inputs[m][0], torch.from_numpy(images[m][10:149]))
    assert torch.equal(cropped.target, torch.from_numpy(np.where(seg == 4, 3, seg)[10:149].astype(np.int64)))
    whole = BraTS(tmp_path, normalize=False, brain_crop=False)[0]
    assert tuple(whole.target.shape) == (160, 8, 8)


@pytest.mark.parametrize("seed", range(5))
def test_brain_box_holds_the_brain_and_the_minimum_extent(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    shape = tuple(int(n) for n in torch.randint(20, 300, (3,), generator=generator))
    volume = torch.zeros(shape)
    low = [int(torch.randint(0, n - 10, (1,), generator=generator)) for n in shape]
    high = [int(torch.randint(a + 1, n, (1,), generator=generator)) for a, n in zip(low, shape, strict=True)]
    volume[low[0] : high[0] + 1, low[1] : high[1] + 1, low[2] : high[2] + 1] = 1.0
    for axis, box in enumerate(brain_box(volume)):
        assert 0 <= box.start <= low[axis]
        assert box.stop <= shape[axis]
        assert box.stop - box.start >= 128 or box.stop == shape[axis]  # widened, or clipped at the edge
        # the official end is exclusive: the last brain voxel is left out only when the brain spans >= 128
        assert box.stop >= high[axis] + (0 if high[axis] - low[axis] >= 128 else 1)
