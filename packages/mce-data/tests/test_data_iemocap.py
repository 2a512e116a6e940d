"""IEMOCAP in MMIN's layout: structure, fold normalisation, variants of the target files, bad input."""

from __future__ import annotations

import doctest
import importlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mce_data._optional import require
from mce_data.iemocap import IEMOCAP, LAYOUT_HELP
from mce_data.sample import MultiModalDataset
from mce_data.synthetic_iemocap import write_synthetic_iemocap

h5py = require("h5py")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_iemocap(tmp_path_factory.mktemp("iemocap"), n_utterances=40, seed=2)


def _copy(root: Path, target: Path) -> Path:
    for file in root.rglob("*"):
        if file.is_file():
            (target / file.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
            (target / file.relative_to(root)).write_bytes(file.read_bytes())
    return target


@pytest.mark.parametrize("name", ["mce_data.iemocap", "mce_data.iemocap_io", "mce_data.synthetic_iemocap"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_files_follow_mmin_layout(root: Path) -> None:
    names = np.load(root / "target" / "3" / "trn_int2name.npy")
    labels = np.load(root / "target" / "3" / "trn_label.npy")
    assert names.shape[1] == 1
    assert names.dtype.kind == "S"
    assert labels.shape == (names.shape[0], 4)
    assert set(labels.sum(axis=1).tolist()) == {1.0}
    with h5py.File(root / "A" / "comparE_mean_std.h5") as stats:
        assert sorted(stats, key=int) == [str(cv) for cv in range(1, 11)]
        assert stats["3"]["mean"].shape == (8,)


def test_splits_partition_the_utterances(root: Path) -> None:
    for cv in (1, 7):
        ids = {s: IEMOCAP(root, cv, s).sample_ids() for s in ("trn", "val", "tst")}
        assert sum(len(v) for v in ids.values()) == 40
        assert len(set().union(*ids.values())) == 40
    assert IEMOCAP(root, 1, "tst").sample_ids() != IEMOCAP(root, 2, "tst").sample_ids()


def test_samples_are_unpadded_sequences_with_labels(root: Path) -> None:
    data = IEMOCAP(root, cv=2, split="trn")
    assert isinstance(data, MultiModalDataset)
    assert data.modalities == ("acoustic", "visual", "lexical")
    expected = np.argmax(np.load(root / "target" / "2" / "trn_label.npy"), axis=1)
    lengths = set()
    with h5py.File(root / "V" / "denseface.h5") as visual:
        for i in range(len(data)):
            sample = data[i]
            assert sample.id == data.sample_ids()[i]
            assert int(sample.target) == expected[i]
            assert sample.target.shape == ()
            assert sample.inputs["visual"].shape == visual[sample.id].shape
            assert torch.equal(sample.inputs["visual"], torch.from_numpy(visual[sample.id][()]))  # not normalised
            assert sample.inputs["lexical"].shape[1] == 12
            lengths.add(sample.inputs["acoustic"].shape[0])
    assert len(lengths) > 3


def test_acoustic_features_use_the_fold_statistics(root: Path) -> None:
    data = IEMOCAP(root, cv=4, split="val")
    with h5py.File(root / "A" / "comparE.h5") as acoustic, h5py.File(root / "A" / "comparE_mean_std.h5") as stats:
        mean, std = stats["4"]["mean"][()], stats["4"]["std"][()]
        sample = data[1]
        expected = (acoustic[sample.id][()] - mean) / std
    np.testing.assert_allclose(sample.inputs["acoustic"].numpy(), expected, rtol=1e-5, atol=1e-5)
    raw = IEMOCAP(root, cv=4, split="val", normalize=False)[1].inputs["acoustic"]
    assert float(raw.mean()) > 3.0  # the synthetic acoustic features are shifted by +5
    trn = torch.cat([IEMOCAP(root, cv=4, split="trn")[i].inputs["acoustic"] for i in range(32)])
    torch.testing.assert_close(trn.mean(0), torch.zeros(8), atol=1e-4, rtol=0)


def test_preload_matches_lazy_reads_and_pickles(root: Path) -> None:
    lazy, cached = IEMOCAP(root, 5, "tst"), IEMOCAP(root, 5, "tst", preload=True)
    for i in range(len(lazy)):
        assert all(torch.equal(lazy[i].inputs[m], cached[i].inputs[m]) for m in lazy.modalities)
    lazy[0]
    clone = pickle.loads(pickle.dumps(lazy))
    assert torch.equal(clone[1].inputs["lexical"], lazy[1].inputs["lexical"])


def test_missing_utterance_is_a_flagged_missing_modality(tmp_path: Path) -> None:
    root = write_synthetic_iemocap(tmp_path, n_utterances=20, missing={"visual": 0.3}, seed=1)
    data = IEMOCAP(root, 1, "trn")
    flags = [data[i].available for i in range(16)]
    assert any(f == (True, False, True) for f in flags)
    assert any(f == (True, True, True) for f in flags)
    assert data.available_matrix().tolist() == [list(f) for f in flags]
    sample = next(data[i] for i in range(16) if not flags[i][1])
    assert sample.inputs["visual"].shape == (0, 6)


def test_empty_utterance_is_missing_like_an_absent_one(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    name = IEMOCAP(copy, 1, "tst").sample_ids()[1]
    with h5py.File(copy / "L" / "bert_large.h5", "a") as lexical:
        del lexical[name]
        lexical.create_dataset(name, data=np.zeros((0, 12), np.float32))
    data = IEMOCAP(copy, 1, "tst")
    assert data[1].available == (True, True, False)
    assert data[1].inputs["lexical"].shape == (0, 12)
    assert data.available_matrix()[1].tolist() == [True, True, False]


def test_foreign_feature_file_is_an_error(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    trn = IEMOCAP(copy, 1, "trn").sample_ids()
    with h5py.File(copy / "V" / "denseface.h5", "a") as visual:
        for name in trn[: len(trn) // 2 + 1]:
            del visual[name]
    with pytest.raises(ValueError, match=r"denseface\.h5: 17 of the 32 utterance ids .* are absent"):
        IEMOCAP(copy, 1, "trn")
    assert IEMOCAP(copy, 1, "trn", max_absent=0.6).available_matrix()[:, 1].sum() == 15


def test_duplicate_utterance_ids_are_an_error(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    names = np.load(copy / "target" / "1" / "tst_int2name.npy")
    names[1] = names[0]
    np.save(copy / "target" / "1" / "tst_int2name.npy", names)
    with pytest.raises(ValueError, match=r"tst_int2name\.npy: int2name lists 1 utterance id\(s\) more than once"):
        IEMOCAP(copy, 1, "tst")


@pytest.mark.parametrize(
    "row", [[0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [np.nan, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [2.0, 0, 0, 0]]
)
def test_labels_that_are_not_one_hot_name_the_file_and_row(root: Path, tmp_path: Path, row: list[float]) -> None:
    # Before: argmax made every such row class 0 without a word.
    copy = _copy(root, tmp_path)
    labels = np.load(copy / "target" / "1" / "tst_label.npy")
    labels[2] = row
    np.save(copy / "target" / "1" / "tst_label.npy", labels)
    with pytest.raises(ValueError, match=r"tst_label\.npy: row 2 is not one-hot"):
        IEMOCAP(copy, 1, "tst")


def test_only_compare_features_are_normalised_by_default(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    (copy / "A" / "IS10.h5").write_bytes((copy / "A" / "comparE.h5").read_bytes())
    plain = IEMOCAP(copy, 1, "tst", features={"acoustic": "IS10"})
    assert plain.mean is None
    with h5py.File(copy / "A" / "IS10.h5") as stored:
        assert torch.equal(plain[0].inputs["acoustic"], torch.from_numpy(stored[plain.sample_ids()[0]][()]))
    with pytest.raises(FileNotFoundError, match=r"IS10_mean_std\.h5"):
        IEMOCAP(copy, 1, "tst", features={"acoustic": "IS10"}, normalize=True)
    assert IEMOCAP(copy, 1, "tst").mean is not None


def test_target_file_variants(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    folder = copy / "target" / "1"
    names = np.load(folder / "tst_int2name.npy")
    labels = np.load(folder / "tst_label.npy")
    reference = IEMOCAP(root, 1, "tst")
    np.save(folder / "tst_int2name.npy", np.array([n[0].decode() for n in names]))  # [N] str
    np.save(folder / "tst_label.npy", np.argmax(labels, axis=1))  # [N] indices
    variant = IEMOCAP(copy, 1, "tst")
    assert variant.sample_ids() == reference.sample_ids()
    assert [int(variant[i].target) for i in range(len(variant))] == [int(reference[i].target) for i in range(4)]
    np.save(folder / "tst_int2name.npy", np.array([n[0] for n in names], dtype=object), allow_pickle=True)
    assert IEMOCAP(copy, 1, "tst").sample_ids() == reference.sample_ids()


def test_bad_targets_raise_with_the_file_name(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    folder = copy / "target" / "1"
    good = np.load(folder / "tst_label.npy")
    np.save(folder / "tst_label.npy", np.array([0, 1, 4, 2]))
    with pytest.raises(ValueError, match=r"tst_label.npy: row 2: label 4 is outside"):
        IEMOCAP(copy, 1, "tst")
    np.save(folder / "tst_label.npy", good[:3])
    with pytest.raises(ValueError, match=r"tst_label\.npy: 3 labels but tst_int2name\.npy lists 4 names"):
        IEMOCAP(copy, 1, "tst")
    np.save(folder / "tst_label.npy", np.zeros((4, 6)))
    with pytest.raises(ValueError, match="4 columns"):
        IEMOCAP(copy, 1, "tst")
    (folder / "tst_label.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match=r"tst_label\.npy: not a readable \.npy"):
        IEMOCAP(copy, 1, "tst")
    with pytest.raises(FileNotFoundError) as info:
        IEMOCAP(copy, 1, "val", target_root=tmp_path / "nowhere")
    assert LAYOUT_HELP in str(info.value)


def test_bad_feature_files_raise_with_the_file_name(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    (copy / "L" / "bert_large.h5").write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(ValueError, match=r"bert_large\.h5: not a readable HDF5"):
        IEMOCAP(copy, 1, "tst")
    (copy / "L" / "bert_large.h5").write_bytes((root / "L" / "bert_large.h5").read_bytes())
    name = IEMOCAP(copy, 1, "tst").sample_ids()[0]
    with h5py.File(copy / "V" / "denseface.h5", "a") as visual:
        del visual[name]
        visual.create_dataset(name, data=np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=rf"denseface.h5: '{name}' must be \[T, 6\]; got \(3, 5\)"):
        IEMOCAP(copy, 1, "tst")[0]
    with h5py.File(copy / "A" / "comparE_mean_std.h5", "a") as stats:
        del stats["1"]
    with pytest.raises(ValueError, match=r"comparE_mean_std.h5: no group '1'"):
        IEMOCAP(copy, 1, "tst")
    (copy / "V" / "denseface.h5").unlink()
    with pytest.raises(FileNotFoundError, match=r"denseface\.h5: no such feature file"):
        IEMOCAP(copy, 2, "tst")
    with pytest.raises(ValueError, match=r"cv must be an int fold in 1\.\.10; got 0"):
        IEMOCAP(root, 0, "tst")
    with pytest.raises(ValueError, match="split must be one of"):
        IEMOCAP(root, 1, "test")


def _centroid_accuracy(root: Path, modality: str) -> float:
    train, test = IEMOCAP(root, 1, "trn"), IEMOCAP(root, 1, "tst")

    def pooled(data: IEMOCAP) -> tuple[torch.Tensor, torch.Tensor]:
        items = [data[i] for i in range(len(data))]
        return torch.stack([s.inputs[modality].mean(0) for s in items]), torch.stack([s.target for s in items])

    x, y = pooled(train)
    centroids = torch.stack([x[y == c].mean(0) for c in range(4)])
    xt, yt = pooled(test)
    return float((torch.cdist(xt, centroids).argmin(1) == yt).float().mean())


def test_informativeness_controls_how_much_a_modality_says(tmp_path: Path) -> None:
    knob = {"lexical": 0.0, "visual": 1.0}
    root = write_synthetic_iemocap(tmp_path / "temporal", n_utterances=200, informativeness=knob, seed=5)
    assert _pooled_accuracy(root, "visual", 4) > 0.9  # the default signal: the quarters' order tells the class
    assert _pooled_accuracy(root, "lexical", 1) < 0.6  # informativeness 0: noise
    offset = write_synthetic_iemocap(
        tmp_path / "offset", n_utterances=200, informativeness=knob, seed=5, signal="offset"
    )
    assert _centroid_accuracy(offset, "visual") > 0.9  # 0.1's signal: a per-frame class offset
    assert _centroid_accuracy(offset, "lexical") < 0.6
    with pytest.raises(ValueError, match="n_utterances must be an int >= 10"):
        write_synthetic_iemocap(tmp_path / "x", n_utterances=5)


def test_real_dims_option(tmp_path: Path) -> None:
    sample = IEMOCAP(write_synthetic_iemocap(tmp_path, n_utterances=10, real_dims=True), 1, "tst")[0]
    assert [sample.inputs[m].shape[1] for m in ("acoustic", "visual", "lexical")] == [130, 342, 1024]


def _pooled_accuracy(root: Path, modality: str, pieces: int) -> float:
    """Leave-one-out nearest class mean on the utterances' frames averaged over ``pieces`` equal time pieces."""
    data = IEMOCAP(root, 1, "trn", preload=True)
    features, labels = [], []
    for index in range(len(data)):
        sample = data[index]
        frames = sample.inputs[modality].numpy()
        features.append(np.concatenate([part.mean(axis=0) for part in np.array_split(frames, pieces)]))
        labels.append(int(sample.target))
    x, y = np.stack(features), np.array(labels)
    right = 0
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        means = np.stack([x[keep & (y == c)].mean(axis=0) for c in range(4)])
        right += int(np.argmin(((means - x[i]) ** 2).sum(axis=1)) == y[i])
    return right / len(y)


def test_the_temporal_signal_is_in_the_frame_order_not_the_mean(tmp_path: Path) -> None:
    strong = {"acoustic": 1.0, "visual": 1.0, "lexical": 1.0}
    temporal = write_synthetic_iemocap(tmp_path / "t", n_utterances=200, informativeness=strong, seed=1)
    offset = write_synthetic_iemocap(tmp_path / "o", n_utterances=200, informativeness=strong, seed=1, signal="offset")
    for modality in ("acoustic", "visual"):
        assert _pooled_accuracy(temporal, modality, 1) < 0.45  # mean pooling: chance is 0.25
        assert _pooled_accuracy(temporal, modality, 4) > 0.9  # the order of the quarters tells the class
        assert _pooled_accuracy(offset, modality, 1) > 0.9
    assert _pooled_accuracy(temporal, "lexical", 1) > 0.9  # lexical keeps its per-frame class offset
    with pytest.raises(ValueError, match="signal must be one of"):
        write_synthetic_iemocap(tmp_path / "x", signal="sine")
