"""BraTS2020: the network's shapes and isolation of absent modalities, the Dice metric, the splits,
sliding-window inference, and a quick end-to-end run through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from mce_data import write_synthetic_brats
from mce_data.collate import Batch
from mce_train import benchmarks
from mce_train.benchmarks.brats import (
    BRATS_BENCHMARK,
    brats_splits,
    dice_cross_entropy,
    mean_region_dice,
    sliding_window_predictor,
    sliding_window_unimodal,
    split_cases,
)
from mce_train.benchmarks.brats.blocks import PackedLayout
from mce_train.benchmarks.brats.data import FreshCrops
from mce_train.benchmarks.brats.metrics import RegionDiceMetric, region_dice
from mce_train.benchmarks.brats.models import QUICK, BraTSNet, build_network
from mce_train.cli import main

SIDE = QUICK.patch
PRESENCE = [
    [True, False, False, False],
    [False, True, True, False],
    [True, False, True, True],
    [True, True, True, True],
]


@pytest.fixture(scope="module")
def net() -> BraTSNet:
    torch.manual_seed(0)
    return build_network(QUICK).eval()


def _inputs(n: int, seed: int, side: int = SIDE) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {m: torch.randn(n, 1, side, side, side, generator=generator) for m in ("flair", "t1", "t1ce", "t2")}


def test_shapes_for_one_to_four_present_modalities(net: BraTSNet) -> None:
    present = torch.tensor(PRESENCE)
    inputs = _inputs(4, seed=1)
    with torch.no_grad():
        h = net.encode(inputs, present)
        out = net.predict(h, present)
        unimodal = net.unimodal(h, 2)
    grid = SIDE // 4
    assert h.shape == (4, 4, net.layout.width, grid, grid, grid)
    assert net.reconstruction_view(h).shape == (4, 4, QUICK.channels[-1], grid, grid, grid)
    assert out.shape == (4, 4, SIDE, SIDE, SIDE)
    assert unimodal.shape == (4, 4, SIDE, SIDE, SIDE)
    assert torch.isfinite(out).all()
    assert (h[~present] == 0).all()  # absent slots are zero before completion


def test_packing_is_lossless() -> None:
    layout = PackedLayout((2, 3, 5))
    generator = torch.Generator().manual_seed(0)
    levels = [
        torch.randn(2, 6, c, 8 >> level, 8 >> level, 8 >> level, generator=generator)
        for level, c in enumerate((2, 3, 5))
    ]
    flags = torch.rand(2, 6, 2, 2, 2, 2, generator=generator)
    parts = layout.unpack(layout.pack(levels, flags))
    assert torch.equal(parts.bottleneck, levels[2])
    assert torch.equal(parts.flags, flags)
    assert all(torch.equal(a, b) for a, b in zip(parts.skips, levels[:2], strict=True))


@pytest.mark.parametrize("completion", [True, False])
def test_absent_or_dropped_modality_input_cannot_change_the_output(completion: bool) -> None:
    torch.manual_seed(0)
    model = build_network(QUICK, completion=completion).eval()
    present = torch.tensor(PRESENCE)
    inputs = _inputs(4, seed=2)
    noisy = {m: x.clone() for m, x in inputs.items()}
    for m, name in enumerate(model.modalities):  # garbage wherever the modality is absent
        noisy[name][~present[:, m]] = 1e3 * torch.randn_like(noisy[name][~present[:, m]])
    keep = present.clone()
    keep[3, 0] = keep[2, 3] = False  # dropped although present (a coalition of the Shapley game)
    changed = {m: x.clone() for m, x in noisy.items()}
    changed["flair"][3] = -changed["flair"][3] + 5
    changed["t2"][2] = 7.0
    with torch.no_grad():
        reference = model(inputs, present)
        assert torch.equal(model(noisy, present), reference)
        dropped = model.predict(model.encode(noisy, present), keep)
        assert torch.equal(model.predict(model.encode(changed, present), keep), dropped)
        assert not torch.allclose(model(changed, present)[3], reference[3])  # it does matter when kept


def test_completion_fills_the_bottleneck_only(net: BraTSNet) -> None:
    present = torch.ones(2, 4, dtype=torch.bool)
    keep = torch.tensor([[True, False, True, False], [False, False, False, True]])
    with torch.no_grad():
        h = net.encode(_inputs(2, seed=3), present)
        completed = net.complete(h, keep)
    width = QUICK.channels[-1]
    assert completed.shape == h.shape
    assert (completed[~keep][:, width + 2 :] == 0).all()  # dropped skips zeroed
    assert (completed[~keep][:, :width].abs().sum((1, 2, 3, 4)) > 0).all()  # dropped bottleneck filled
    assert torch.equal(completed[..., width, 0, 0, 0], keep.float())  # kept flag
    assert torch.equal(completed[keep][:, width + 2 :], h[keep][:, width + 2 :])


def _hand_dice(pred: list[int], target: list[int], labels: set[int]) -> float:
    p = {i for i, v in enumerate(pred) if v in labels}
    t = {i for i, v in enumerate(target) if v in labels}
    return 1.0 if not p and not t else 2 * len(p & t) / (len(p) + len(t))


def test_dice_metric_matches_hand_computed_dice() -> None:
    cases = [
        ([0, 1, 2, 3, 3, 0, 2, 1], [0, 1, 2, 3, 0, 0, 1, 1]),
        ([0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]),  # empty in both: 1 for every region
        ([0, 2, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]),  # WT predicted, nothing there: 0; TC/ET empty: 1
        ([0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 3, 0, 0, 0, 0, 0]),  # missed everything: 0
    ]
    regions = [{1, 2, 3}, {1, 3}, {3}]
    expected = torch.tensor([[_hand_dice(p, t, r) for r in regions] for p, t in cases], dtype=torch.float64)
    assert expected[2].tolist() == [0.0, 1.0, 1.0]
    pred = torch.tensor([p for p, _ in cases]).reshape(4, 2, 2, 2)
    target = torch.tensor([t for _, t in cases]).reshape(4, 2, 2, 2)
    torch.testing.assert_close(region_dice(pred, target).double(), expected)
    logits = torch.nn.functional.one_hot(pred, 4).movedim(-1, 1).float() * 3 - 1  # scores: arg-max is pred
    metric = RegionDiceMetric()
    metric.update(logits[:3], target[:3])
    metric.update(pred[3:], target[3:])
    result = metric.compute()
    means = expected.mean(0) * 100
    assert result["wt"] == pytest.approx(float(means[0]))
    assert result["tc"] == pytest.approx(float(means[1]))
    assert result["et"] == pytest.approx(float(means[2]))
    assert result["dice"] == pytest.approx(float(means.mean()))
    torch.testing.assert_close(mean_region_dice(logits, target).double(), expected.mean(1))
    with pytest.raises(ValueError, match="no predictions"):
        RegionDiceMetric().compute()


def test_dice_cross_entropy_is_per_sample_and_matches_a_direct_computation() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 3, 2, 2, generator=generator)
    target = torch.randint(0, 4, (2, 3, 2, 2), generator=generator)
    loss = dice_cross_entropy(logits, target)
    for n in range(2):
        p = logits[n].softmax(0).reshape(4, -1)
        t = target[n].reshape(-1)
        ce = -torch.log(p[t, torch.arange(t.numel())]).mean()
        dice = [(2 * p[k][t == k].sum() + 1) / (p[k].sum() + (t == k).sum() + 1) for k in range(4)]
        assert float(loss[n]) == pytest.approx(float(ce + 1 - torch.stack(dice).mean()), rel=1e-5)
    perfect = torch.nn.functional.one_hot(target, 4).movedim(-1, 1).float() * 50
    assert dice_cross_entropy(perfect, target).max() < 1e-3


class _Voxelwise(nn.Module):
    """A stand-in network predicting each voxel from itself: logits = the kept modalities' intensities."""

    modalities = ("flair", "t1", "t1ce", "t2")
    patch = (8, 8, 8)

    def __init__(self) -> None:
        super().__init__()
        self.windows: list[tuple[int, ...]] = []

    def encode(self, inputs: dict[str, Tensor], present: Tensor) -> Tensor:
        self.windows.append(tuple(inputs["flair"].shape))
        return torch.stack([inputs[m][:, 0] for m in self.modalities], 1) * present[:, :, None, None, None]

    def predict(self, h: Tensor, keep: Tensor) -> Tensor:
        return h * keep[:, :, None, None, None]

    def predict_subsets(self, h: Tensor, keeps: Tensor) -> Tensor:
        return torch.stack([self.predict(h, keep) for keep in keeps])


def test_sliding_window_predictor_covers_the_whole_volume() -> None:
    generator = torch.Generator().manual_seed(0)
    shape = (2, 13, 6, 20)  # N, D, H, W: sides that are not multiples of the window, one smaller than it
    inputs = {m: torch.randn(shape[0], 1, *shape[1:], generator=generator) for m in _Voxelwise.modalities}
    keep = torch.tensor([[True, False, True, True], [False, True, False, False]])
    batch = Batch(["a", "b"], inputs, {}, keep, torch.zeros(shape, dtype=torch.long), {})
    model = _Voxelwise()
    keeps = torch.stack([keep, keep & torch.tensor([True, True, False, False])])  # two subsets
    out = sliding_window_predictor(model, batch, keeps)  # type: ignore[arg-type]
    volume = torch.stack([inputs[m][:, 0] for m in _Voxelwise.modalities], 1)
    assert out.shape == (2, 2, 4, *shape[1:])
    for s in range(2):
        torch.testing.assert_close(out[s], (volume * keeps[s, :, :, None, None, None]).softmax(1))
    assert {window[1:] for window in model.windows} == {(1, 8, 8, 8)}  # always the training crop size


def test_sliding_windows_of_one_window_equal_a_direct_forward(net: BraTSNet) -> None:
    inputs = _inputs(2, seed=4)
    present = torch.tensor([[True, True, False, True], [False, True, True, True]])
    batch = Batch(["a", "b"], inputs, {}, present, torch.zeros(2, SIDE, SIDE, SIDE, dtype=torch.long), {})
    keep = present & torch.tensor([True, True, True, False])
    with torch.no_grad():
        fused = net.predict(net.encode(inputs, present), keep).softmax(1)
        only = torch.zeros_like(present)
        only[:, 1] = True
        unimodal = net.unimodal(net.encode(inputs, only), 1).softmax(1)
    torch.testing.assert_close(sliding_window_predictor(net, batch, keep[None])[0], fused, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(sliding_window_unimodal(net, batch, 1), unimodal)


def test_split_is_proportional_deterministic_and_stratified() -> None:
    ids = [f"case{i:03d}" for i in range(369)]
    train, val, test = split_cases(ids)
    assert (len(train), len(val), len(test)) == (219, 50, 100)
    assert set(train) | set(val) | set(test) == set(ids)
    assert len(set(train) | set(val) | set(test)) == len(train) + len(val) + len(test)  # disjoint
    assert split_cases(list(reversed(ids))) == (train, val, test)
    groups = ["full" if i < 6 else "partial" for i in range(8)]
    train, val, test = split_cases(ids[:8], groups)
    assert (len(train), len(val), len(test)) == (4, 1, 3)
    assert any(i in train for i in ids[6:8])  # each availability pattern reaches training


def test_splits_find_brats20_cases_and_train_on_fresh_crops(tmp_path: Path) -> None:
    write_synthetic_brats(tmp_path / "data" / "brats", n_cases=8, shape=(16, 16, 16), seed=1)
    splits = brats_splits(tmp_path / "data", tmp_path / "cache", 0, "paper")
    assert splits.source.startswith("BraTS2020 NIfTI cases")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (5, 1, 2)
    assert isinstance(splits.train, FreshCrops)
    torch.manual_seed(0)
    first, second = splits.train[0], splits.train[0]
    assert first.inputs["flair"].shape == (1, 80, 80, 80)  # the paper's crop, zero-padded around 16³
    assert splits.val[0].inputs["t2"].shape == (1, 16, 16, 16)  # whole volumes for evaluation
    quick = brats_splits(tmp_path / "data", tmp_path / "cache", 0, "quick")
    assert quick.source.startswith("SYNTHETIC")
    torch.manual_seed(0)
    a, b = quick.train[0], quick.train[0]
    torch.manual_seed(0)
    assert torch.equal(quick.train[0].inputs["t1"], a.inputs["t1"])  # reproducible from the global seed
    assert not torch.equal(a.inputs["t1"], b.inputs["t1"])  # a new crop at every access
    assert first.id == second.id


def test_quick_run_reports_dice_for_all_15_subsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(benchmarks.BENCHMARKS, "brats", BRATS_BENCHMARK)
    (tmp_path / "no-data").mkdir()
    monkeypatch.setenv("MCE_DATA_DIR", str(tmp_path / "no-data"))
    out = tmp_path / "out"
    argv = ["--benchmark", "brats", "--quick", "--methods", "mce", "--steps", "2", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    test = record["per_seed"][0]["methods"]["mce"]["test"]
    assert len(test) == 15
    assert "flair+t1+t1ce+t2" in test
    for scores in test.values():
        assert set(scores) == {"dice", "wt", "tc", "et"}
        assert all(0.0 <= v <= 100.0 for v in scores.values())
        assert scores["dice"] == pytest.approx((scores["wt"] + scores["tc"] + scores["et"]) / 3)
    log = (out / "runs" / "mce-seed0" / "train_log.csv").read_text().splitlines()
    assert "B_t2" in log[0]
    assert "aux" in log[0]
