"""RedCore on BraTS and nuScenes: built on the benchmarks' own networks, absent inputs never read, BraTS'
skips and flags as the benchmark completes them, sliding windows, noise independent of the global generator,
and a few steps end to end."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from mce_data import IncompleteDataset, MissingMask, collate_incomplete
from mce_data.brats import MODALITIES as BRATS_MODALITIES
from mce_data.collate import Batch
from mce_train import benchmarks
from mce_train.benchmarks.base import Benchmark, Splits
from mce_train.benchmarks.brats import models as brats
from mce_train.benchmarks.brats import sliding_window_predictor
from mce_train.benchmarks.brats.blocks import N_FLAGS, PackedLayout
from mce_train.cli import main
from mce_train.methods import method_table
from mce_train.methods.redcore import PAPER_REGULATION, RedCore, RedCoreNet
from mce_train.methods.redcore.network import feature_layout, redcore_on
from mce_train.network import MultiModalNet

PRESENT = [[1, 1, 0, 1], [0, 1, 1, 0], [1, 0, 1, 1]]
"""Rows of presence patterns: each modality absent from some sample (the first M columns are used)."""


@pytest.fixture(scope="module")
def setups(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Benchmark, Splits]]:
    """The quick synthetic splits of both dense benchmarks (written once for the module)."""
    root = tmp_path_factory.mktemp("dense")
    (root / "no-data").mkdir()
    found = {}
    for name in ("brats", "nuscenes"):
        bench = benchmarks.get(name)
        found[name] = (bench, bench.splits(root / "no-data", root / "cache", 0, "quick"))
    return found


def _network(setups: dict[str, tuple[Benchmark, Splits]], name: str) -> MultiModalNet:
    bench, splits = setups[name]
    return bench.build(bench.recipe("quick", len(splits.train)).section("model"), splits)


def _model(setups: dict[str, tuple[Benchmark, Splits]], name: str) -> tuple[Benchmark, RedCoreNet, Splits]:
    bench, splits = setups[name]
    torch.manual_seed(0)
    network = bench.build(bench.recipe("quick", len(splits.train)).section("model"), splits)
    return bench, redcore_on(network, splits, "quick"), splits


def _batch(splits: Splits, modalities: tuple[str, ...], present: Tensor, poison: bool) -> Batch:
    """Three training samples with ``present``; absent inputs zero (as the collate leaves them) or NaN."""
    dataset = IncompleteDataset(splits.train, MissingMask.full(splits.train.sample_ids(), modalities))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)  # the same BraTS crops for the clean and the poisoned batch
        full = collate_incomplete([dataset[i] for i in range(3)])
    inputs = {}
    for m, name in enumerate(modalities):
        absent = (~present[:, m]).reshape(-1, *([1] * (full.inputs[name].dim() - 1)))
        inputs[name] = full.inputs[name].masked_fill(absent, float("nan") if poison else 0.0)
    return Batch(full.ids, inputs, full.lengths, present, full.target, full.extras)


def test_redcore_is_registered_on_all_four_benchmarks() -> None:
    assert "| redcore | ✓ | ✓ | ✓ | ✓ |" in method_table(["avmnist", "iemocap", "brats", "nuscenes"])


def test_the_latent_is_what_each_benchmark_completes(setups: dict[str, tuple[Benchmark, Splits]]) -> None:
    _, model, splits = _model(setups, "brats")
    layout = PackedLayout(brats.QUICK.channels)
    assert (model.dim, model.patch) == (layout.bottleneck, (16, 16, 16))
    assert feature_layout(_network(setups, "brats"), splits) == (layout.width, layout.bottleneck)
    _, model, splits = _model(setups, "nuscenes")
    assert feature_layout(_network(setups, "nuscenes"), splits) == (8, 8)
    assert not hasattr(model, "patch")
    keys = list(model.state_dict())
    assert len(keys) == len(set(keys))  # every module once, the benchmark network not a second time
    assert not any(k.startswith("_network") for k in keys)
    assert any(k.startswith("completion.cross_encoders.") for k in keys)

    class Trailing(MultiModalNet):
        def reconstruction_view(self, h: Tensor) -> Tensor:
            return h[:, :, 1:]

    base = _network(setups, "nuscenes")
    odd = Trailing(base.modalities, dict(base.encoders.items()), base.head, dict(base.unimodal_heads.items()))
    with pytest.raises(ValueError, match="must be the leading channels"):
        feature_layout(odd, splits)


@pytest.mark.parametrize("name", ["brats", "nuscenes"])
def test_absent_inputs_are_never_read(name: str, setups: dict[str, tuple[Benchmark, Splits]]) -> None:
    """IDT on maps: NaN in absent modalities changes neither the loss nor any gradient."""
    bench, _, splits = _model(setups, name)
    present = torch.tensor(PRESENT, dtype=torch.bool)[:, : len(bench.modalities)]

    def run(poison: bool) -> tuple[Tensor, list[Tensor]]:
        _, model, _ = _model(setups, name)
        loss, logs = RedCore(bench.task_loss, bench.modalities, seed=5).loss(
            model, _batch(splits, bench.modalities, present, poison)
        )
        loss.backward()  # type: ignore[no-untyped-call]
        assert all(math.isfinite(v) for v in logs.values())
        return loss.detach(), [p.grad.clone() if p.grad is not None else torch.zeros(0) for p in model.parameters()]

    loss_clean, grads_clean = run(False)
    loss_dirty, grads_dirty = run(True)
    assert torch.isfinite(loss_clean)
    assert torch.equal(loss_clean, loss_dirty)
    assert all(torch.equal(g, h) for g, h in zip(grads_clean, grads_dirty, strict=True))
    assert all(bool(torch.isfinite(g).all()) for g in grads_dirty)
    assert sum(int((g != 0).any()) for g in grads_clean) > len(grads_clean) // 2  # the step trains the network


def test_brats_completion_imputes_the_bottleneck_and_zeroes_dropped_skips(
    setups: dict[str, tuple[Benchmark, Splits]],
) -> None:
    _, model, splits = _model(setups, "brats")
    model.eval()
    batch = _batch(splits, BRATS_MODALITIES, torch.ones(3, 4, dtype=torch.bool), False)
    with torch.no_grad():
        h = model.encode(batch.inputs, batch.present)
        keep = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
        c = model.dim
        poisoned = h.clone()
        poisoned[:, :, :c][~keep] = float("nan")  # a dropped modality's bottleneck is never read
        completed = model.complete(poisoned, keep)
        imputed = model.cross_modal(h[:, :, :c], keep)
    assert torch.equal(completed[:, :, :c][keep], h[:, :, :c][keep])
    assert torch.allclose(completed[:, :, :c][~keep], imputed[~keep])
    flags = completed[:, :, c : c + N_FLAGS, 0, 0, 0]
    assert torch.equal(flags[..., 0], keep.float())  # kept: the skips are real
    assert torch.equal(flags[..., 1], torch.ones(3, 4))  # valid: every bottleneck, kept or imputed
    rest = completed[:, :, c + N_FLAGS :]
    assert torch.equal(rest[keep], h[:, :, c + N_FLAGS :][keep])
    assert not bool(rest[~keep].any())  # RedCore imputes the representation, not the skip levels
    assert model.reconstruction_view(completed).shape == (3, 4, c, 4, 4, 4)


def test_brats_sliding_window_prediction_goes_through_redcore(setups: dict[str, tuple[Benchmark, Splits]]) -> None:
    _, model, splits = _model(setups, "brats")
    model.eval()
    keep = torch.tensor([[True, False, True, False]])
    cases = IncompleteDataset(splits.val, MissingMask.full(splits.val.sample_ids(), BRATS_MODALITIES))
    volume = collate_incomplete([cases[0]])
    with torch.no_grad():
        whole = sliding_window_predictor(model, volume, keep[None])[0]  # 24³ volumes, 16³ windows
        crop = {name: x[:, :, :16, :16, :16] for name, x in volume.inputs.items()}
        one = Batch(volume.ids, crop, {}, volume.present, volume.target, {})
        single = sliding_window_predictor(model, one, keep[None])[0]
        direct = model.predict(model.encode(crop, keep), keep).softmax(1)
    assert whole.shape == (1, 4, *volume.inputs["flair"].shape[2:])
    assert torch.allclose(whole.sum(1), torch.ones(()), atol=1e-5)
    assert torch.allclose(single, direct, atol=1e-6)  # one window: exactly the network's encode/complete/head


def test_the_noise_comes_from_the_methods_generator(setups: dict[str, tuple[Benchmark, Splits]]) -> None:
    """What a resumed run relies on: a step's loss depends on the regulator's state, not on the global generator."""
    bench, model, splits = _model(setups, "nuscenes")
    batch = _batch(splits, bench.modalities, torch.tensor(PRESENT, dtype=torch.bool)[:, :3], False)
    losses = []
    for global_seed in (1, 2):
        method = RedCore(bench.task_loss, bench.modalities, seed=4)
        torch.manual_seed(global_seed)
        losses.append(method.loss(model, batch)[0].detach())
    assert torch.equal(losses[0], losses[1])
    other = RedCore(bench.task_loss, bench.modalities, seed=5).loss(model, batch)[0].detach()
    assert not torch.equal(losses[0], other)  # the seed does draw the noise


def _run(out: Path, *extra: str) -> dict[str, Any]:
    assert main(["--quick", "--no-progress", "--out", str(out), *extra]) == 0
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


@pytest.mark.parametrize(("name", "subsets"), [("brats", 15), ("nuscenes", 7)])
def test_quick_run_on_a_dense_benchmark(name: str, subsets: int, no_real_data: Path, runs: Path) -> None:
    record = _run(runs / name, "--benchmark", name, "--methods", "redcore", "--steps", "3")
    scores = record["per_seed"][0]["methods"]["redcore"]["test"]
    assert len(scores) == subsets
    assert all(0.0 <= s[record["metric"]] <= 100.0 for s in scores.values())
    modalities = benchmarks.get(name).modalities
    rows = list(csv.DictReader((runs / name / "runs" / "redcore-seed0" / "train_log.csv").open()))
    assert len(rows) == 3
    for row in rows:
        assert abs(sum(float(row[f"advantage_{m}"]) for m in modalities)) < 1e-9
        assert math.hypot(*(float(row[f"eta_{m}"]) for m in modalities)) == pytest.approx(PAPER_REGULATION["xi_2"])
        assert all(float(row[f"mse_{m}"]) > 0 for m in modalities)
        assert float(row["kl"]) > 0
