"""Shared fixtures of the mce-data tests (AVMNIST, masks, collate, download)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mce_data.synthetic_avmnist import write_synthetic_avmnist
from mce_data.tensor_dataset import TensorMultiModalDataset


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data root: $MCE_DATA_DIR, else ../shared/data beside the checkout (it may not exist)."""
    env = os.environ.get("MCE_DATA_DIR", "").strip()
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="session")
def real_data(data_root: Path) -> Path:
    """The real FSDD/MNIST data root (:func:`data_root`); skips when absent."""
    root = data_root
    if not (root / "fsdd" / "recordings").is_dir() or not (root / "mnist").is_dir():
        pytest.skip(f"real FSDD/MNIST data not found under {root} (set MCE_DATA_DIR to the folder with fsdd/, mnist/)")
    return root


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic AVMNIST tree: speaker theo, 17 takes per digit (150 test clips, 20 train-pool clips)."""
    return write_synthetic_avmnist(tmp_path_factory.mktemp("avmnist"), n_per_digit=17, speakers=("theo",), seed=1)


@pytest.fixture
def toy_dataset() -> TensorMultiModalDataset:
    """40 samples, modalities a: Float[3], b: Float[2, 2], c: Float[1]; every value = sample index + 1."""
    n = 40
    value = torch.arange(1, n + 1, dtype=torch.float32)
    inputs = {
        "a": value[:, None].expand(n, 3).clone(),
        "b": value[:, None, None].expand(n, 2, 2).clone(),
        "c": value[:, None].clone(),
    }
    return TensorMultiModalDataset([f"toy-{i:03d}" for i in range(n)], inputs, torch.arange(n) % 4)
