"""The segmentation benchmarks' pipelines can learn: each quick network fits a few training samples.

A smoke run of a handful of steps shows only that the pieces connect; fitting a few samples to a
high score shows that inputs, targets, loss and metric line up (a wrong target or mask cannot be fit).
"""

from pathlib import Path

import pytest
import torch

from mce_data import IncompleteDataset, MissingMask, collate_incomplete
from mce_train.benchmarks import get
from mce_train.methods import Baseline


@pytest.mark.parametrize(("name", "samples", "threshold"), [("nuscenes", 4, 80.0), ("brats", 2, 80.0)])
def test_quick_network_fits_a_few_training_samples(name: str, samples: int, threshold: float, tmp_path: Path) -> None:
    bench = get(name)
    splits = bench.splits(tmp_path / "no-data", tmp_path / "cache", 0, "quick")
    data = IncompleteDataset(splits.train, MissingMask.full(splits.train.sample_ids(), bench.modalities))
    batch = collate_incomplete([data[i] for i in range(samples)])
    torch.manual_seed(0)
    model = bench.build(bench.recipe("quick", len(splits.train)).section("model"), splits)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    method = Baseline(bench.task_loss)
    for _ in range(100):
        model.train()
        loss, _ = method.loss(model, batch)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    model.eval()
    metric = bench.metric()
    with torch.no_grad():
        metric.update(model(batch.inputs, batch.present, batch.lengths, batch.extras), batch.target)
    assert metric.compute()[bench.selection] > threshold
