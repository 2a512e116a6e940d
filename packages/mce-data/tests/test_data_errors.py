"""One exception type for unreadable data files: FSDD wav, IEMOCAP h5, BraTS NIfTI and the nuScenes HDF5 cache,
each corrupted on purpose; the message is one line naming the file, raised from the library's own error."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import mce_data
from mce_data import DataFileError
from mce_data.fsdd_io import read_wav, write_wav
from mce_data.nuscenes_cache import FORMAT
from mce_data.synthetic_brats import write_synthetic_brats
from mce_data.synthetic_iemocap import write_synthetic_iemocap


def _check(error: DataFileError, path: Path, *, chained: bool = True) -> None:
    message = str(error)
    assert isinstance(error, ValueError)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert error.path == path
    assert error.problem
    assert error.problem in message
    assert (error.__cause__ is not None) == chained


def test_message_is_one_line_and_pickles() -> None:
    error = DataFileError("a/b.csv", "expected 0 or 1,\n  got 2", line=7)
    assert str(error) == "a/b.csv, line 7: expected 0 or 1, got 2"
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), str(again), again.line) == (DataFileError, str(error), 7)
    assert mce_data.DataFileError is DataFileError


def test_corrupt_and_truncated_fsdd_wav(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "3_theo_7.wav", np.zeros(800, dtype=np.float32))
    good = path.read_bytes()
    path.write_bytes(b"JUNK" + good[4:])  # no RIFF header
    with pytest.raises(DataFileError, match=r"3_theo_7\.wav: corrupt wav file") as info:
        read_wav(path)
    _check(info.value, path)
    path.write_bytes(good[: len(good) - 301])  # data chunk cut short
    with pytest.raises(DataFileError, match=r"3_theo_7\.wav: truncated wav data") as info:
        read_wav(path)
    _check(info.value, path, chained=False)


def test_corrupt_iemocap_h5(tmp_path: Path) -> None:
    root = write_synthetic_iemocap(tmp_path, n_utterances=10)
    visual = root / "V" / "denseface.h5"
    data = visual.read_bytes()
    visual.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataFileError, match=r"denseface\.h5: not a readable HDF5 file") as info:
        mce_data.IEMOCAP(root, cv=1, split="trn")
    _check(info.value, visual)


def test_corrupt_brats_nifti(tmp_path: Path) -> None:
    root = write_synthetic_brats(tmp_path, n_cases=1, shape=(16, 16, 16), uncompressed_every=1)
    t2 = next(root.glob("BraTS20_Training_*/*_t2.nii*"))
    data = t2.read_bytes()
    t2.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match=r"_t2\.nii(\.gz)?: not a readable NIfTI volume") as info:
        mce_data.BraTS(root)[0]
    _check(info.value, t2)


def test_corrupt_nuscenes_cache(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 200)  # an HDF5 signature, then nothing readable
    with pytest.raises(DataFileError, match=r"junk\.h5: not a readable HDF5 file") as info:
        mce_data.NuScenesBEV(junk)
    _check(info.value, junk)
    half = tmp_path / "half.h5"
    with h5py.File(half, "w") as file:
        file.attrs["format"] = FORMAT  # the format tag, but no tokens / config
    with pytest.raises(DataFileError, match=r"half\.h5: the cache's 'tokens' / 'config' attributes") as info:
        mce_data.NuScenesBEV(half)
    _check(info.value, half)


class _Corrupt(torch.utils.data.Dataset[int]):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> int:
        raise DataFileError("data/7_theo_3.wav", f"corrupt wav file (sample {index})")


def test_a_worker_s_data_file_error_reaches_the_main_process_as_one() -> None:
    loader = torch.utils.data.DataLoader(_Corrupt(), num_workers=1)
    with pytest.raises(DataFileError) as caught:
        next(iter(loader))
    assert str(caught.value) == "data/7_theo_3.wav: corrupt wav file (sample 0)"
    assert caught.value.path == Path("data/7_theo_3.wav")
