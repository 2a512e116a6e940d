"""AVMNIST on the real MNIST + FSDD files (SMIL protocol) and on synthetic files; MFCC cache; bad files."""

from __future__ import annotations

import gzip
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import mce_data.mfcc
from mce_data._optional import require
from mce_data.avmnist import AVMNIST
from mce_data.mnist_io import read_idx, write_idx
from mce_data.synthetic_avmnist import write_synthetic_avmnist


def _wav_listing(root: Path) -> list[tuple[int, str, int]]:
    """(digit, speaker, take) of every recording, parsed here independently of mce_data."""
    out = []
    for path in (root / "fsdd" / "recordings").glob("*.wav"):
        digit, speaker, take = path.stem.split("_")
        out.append((int(digit), speaker, int(take)))
    return out


def test_smil_sizes_on_real_data(real_data: Path) -> None:
    listing = [c for c in _wav_listing(real_data) if c[1] in {"jackson", "nicolas", "theo"}]
    n_test = sum(take <= 14 for _, _, take in listing)
    assert (len(listing) - n_test, n_test) == (1050, 450)
    test = AVMNIST(real_data, "test")
    train, val = AVMNIST(real_data, "train"), AVMNIST(real_data, "val")
    assert (len(train) + len(val), len(val), len(test)) == (1050, 105, 450)
    assert len(AVMNIST(real_data, "train", val_fraction=0.0)) == 1050
    assert not set(train.sample_ids()) & set(val.sample_ids())
    everyone = AVMNIST(real_data, "test", speakers="all")
    assert len(everyone) == 900
    assert len(AVMNIST(real_data, "train", speakers="all", val_fraction=0.0)) == 2100
    assert {c.speaker for _, c in test.clips} == {"jackson", "nicolas", "theo"}
    assert all(c.take <= 14 for _, c in test.clips)
    assert all(c.take >= 15 for _, c in train.clips)


def test_real_pairing_agrees_on_labels_and_is_stable(real_data: Path) -> None:
    for split in ("train", "val", "test"):
        data = AVMNIST(real_data, split)
        assert data.image_labels.tolist() == [c.digit for _, c in data.clips]
        assert len(set(data.image_indices.tolist())) == len(data)  # without replacement
        again = AVMNIST(real_data, split)
        assert again.sample_ids() == data.sample_ids()
        assert np.array_equal(again.image_indices, data.image_indices)
    assert AVMNIST(real_data, "train").image_source == "mnist_5k_train_subset.csv.gz"
    other = AVMNIST(real_data, "test", seed=1)
    assert not np.array_equal(other.image_indices, AVMNIST(real_data, "test").image_indices)


def test_real_samples_match_independent_reads(real_data: Path, tmp_path: Path) -> None:
    librosa = require("librosa")
    soundfile = require("soundfile")

    data = AVMNIST(real_data, "test", cache_dir=tmp_path, limit=3, normalise_audio=False)
    with gzip.open(real_data / "mnist" / "t10k-images-idx3-ubyte.gz") as stream:
        pixels = np.frombuffer(stream.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    for index in range(3):
        sample = data[index]
        path, clip = data.clips[index]
        assert sample.id == f"test-{index:05d}"
        assert int(sample.target) == clip.digit
        assert sample.inputs["image"].shape == (1, 28, 28)
        assert sample.inputs["image"].dtype == torch.float32
        expected = torch.from_numpy(pixels[data.image_indices[index]].astype(np.float32) / 255)
        assert torch.equal(sample.inputs["image"][0], expected)
        signal, rate = soundfile.read(path, dtype="float32")
        assert rate == 8000
        reference = librosa.feature.mfcc(y=signal, sr=8000, n_mfcc=20)[:, :20]
        audio = sample.inputs["audio"][0].numpy()
        assert audio.shape == (20, 20)
        np.testing.assert_allclose(audio[:, : reference.shape[1]], reference, rtol=1e-4, atol=1e-3)
        assert not audio[:, reference.shape[1] :].any()  # zero padding after the real frames
    normalised = AVMNIST(real_data, "test", cache_dir=tmp_path, limit=1)[0].inputs["audio"][0]
    real_frames = int((normalised != 0).any(dim=0).sum())
    assert abs(float(normalised[:, :real_frames].mean())) < 1e-4
    assert abs(float(normalised[:, :real_frames].std(unbiased=False)) - 1) < 1e-3


def test_mfcc_cache_hit_skips_librosa(synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Counter[str]()
    original = mce_data.mfcc.librosa_mfcc

    def counting(signal: np.ndarray, n_mfcc: int) -> np.ndarray:
        calls["librosa"] += 1
        return original(signal, n_mfcc)

    monkeypatch.setattr(mce_data.mfcc, "librosa_mfcc", counting)
    first = AVMNIST(synthetic_root, "test", speakers=["theo"], cache_dir=tmp_path, limit=12)
    assert first.precompute() == 12
    assert calls["librosa"] == 12
    audio = first[5].inputs["audio"]
    second = AVMNIST(synthetic_root, "test", speakers=["theo"], cache_dir=tmp_path, limit=12)
    assert second.precompute() == 0
    assert torch.equal(second[5].inputs["audio"], audio)
    assert calls["librosa"] == 12
    uncached = AVMNIST(synthetic_root, "test", speakers=["theo"], limit=2)
    uncached[0], uncached[0]
    assert calls["librosa"] == 14


def test_synthetic_layout_is_read_by_the_real_loader(synthetic_root: Path) -> None:
    assert sorted(p.name for p in (synthetic_root / "mnist").iterdir()) == [
        "mnist_5k_train_subset.csv.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
    ]  # fmt: skip
    test = AVMNIST(synthetic_root, "test", speakers=["theo"])
    train = AVMNIST(synthetic_root, "train", speakers=["theo"], val_fraction=0.0)
    assert (len(test), len(train)) == (150, 20)
    assert test.image_labels.tolist() == [c.digit for _, c in test.clips]
    sample = train[3]
    assert float(sample.inputs["image"].min()) >= 0.0
    assert float(sample.inputs["image"].max()) <= 1.0


def _nearest_centroid_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    centroids = np.stack([features[labels == d].mean(axis=0) for d in range(10)])
    distance = ((features[:, None, :] - centroids[None]) ** 2).sum(-1)
    return float((distance.argmin(axis=1) == labels).mean())


def test_informativeness_knob(tmp_path: Path) -> None:
    root = write_synthetic_avmnist(
        tmp_path, n_per_digit=10, speakers=("theo",), informativeness={"image": 1.0, "audio": 0.0}, seed=3
    )
    data = AVMNIST(root, "test", speakers=["theo"])
    labels = np.array([c.digit for _, c in data.clips])
    images = np.stack([data[i].inputs["image"].flatten().numpy() for i in range(len(data))])
    audio = np.stack([data[i].inputs["audio"].flatten().numpy() for i in range(len(data))])
    assert _nearest_centroid_accuracy(images, labels) > 0.95
    assert _nearest_centroid_accuracy(audio, labels) < 0.6  # chance is 0.1; centroids fit on 10 per class


@pytest.fixture
def broken_root(synthetic_root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(synthetic_root, tmp_path / "copy"))


def test_corrupt_and_truncated_wav_name_the_file(broken_root: Path) -> None:
    wav = broken_root / "fsdd" / "recordings" / "0_theo_0.wav"
    wav.write_bytes(b"not a wav file at all")
    data = AVMNIST(broken_root, "test", speakers=["theo"])
    with pytest.raises(ValueError, match=r"0_theo_0\.wav: corrupt wav"):
        data[0]
    good = (broken_root / "fsdd" / "recordings" / "0_theo_1.wav").read_bytes()
    wav.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"0_theo_0\.wav: truncated wav data"):
        data[0]
    wav.unlink()
    with pytest.raises(FileNotFoundError, match=r"0_theo_0\.wav"):
        data[0]


def test_bad_recording_names_and_labels(broken_root: Path) -> None:
    (broken_root / "fsdd" / "recordings" / "12_theo_3.wav").write_bytes(b"")
    with pytest.raises(ValueError, match=r"12_theo_3\.wav: digit label 12 is outside 0-9"):
        AVMNIST(broken_root, "test", speakers=["theo"])
    (broken_root / "fsdd" / "recordings" / "12_theo_3.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"speaker\(s\) \['jackson'\]"):
        AVMNIST(broken_root, "test", speakers=["jackson", "theo"])


def test_truncated_idx_and_bad_labels_name_the_file(broken_root: Path) -> None:
    mnist = broken_root / "mnist"
    labels = mnist / "t10k-labels-idx1-ubyte.gz"
    good = read_idx(labels)
    bad = good.copy()
    bad[7] = 11
    write_idx(labels, bad)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: label 11 at row 7"):
        AVMNIST(broken_root, "test", speakers=["theo"])
    write_idx(labels, good[:-3])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: .* labels for the .* images"):
        AVMNIST(broken_root, "test", speakers=["theo"])
    images = mnist / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: truncated: header says"):
        AVMNIST(broken_root, "test", speakers=["theo"])
    images.write_bytes(gzip.compress(raw)[:-500])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: corrupt or truncated gzip"):
        AVMNIST(broken_root, "test", speakers=["theo"])
    (mnist / "mnist_5k_train_subset.csv.gz").unlink()
    with pytest.raises(FileNotFoundError, match="no MNIST training images"):
        AVMNIST(broken_root, "train", speakers=["theo"])


def test_bad_csv_rows_name_the_file(broken_root: Path) -> None:
    csv = broken_root / "mnist" / "mnist_5k_train_subset.csv.gz"
    csv.write_bytes(gzip.compress(b"1,2,3\n"))
    with pytest.raises(ValueError, match=r"mnist_5k_train_subset\.csv\.gz: expected 785 columns"):
        AVMNIST(broken_root, "train", speakers=["theo"])


def test_bad_arguments(synthetic_root: Path) -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        AVMNIST(synthetic_root, "dev")
    with pytest.raises(ValueError, match="speakers must be"):
        AVMNIST(synthetic_root, "test", speakers="theo")
