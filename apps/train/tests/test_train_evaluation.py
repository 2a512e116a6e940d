"""Evaluation over every modality subset from one encoder pass: the same predictions and metrics as predicting
each subset on its own, on every benchmark (quick sizes, synthetic files), and the algebra BraTS relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from mce_data import IncompleteDataset, MissingMask, collate_incomplete
from mce_train import benchmarks
from mce_train.benchmarks.brats import sliding_window_each_subset
from mce_train.benchmarks.brats.blocks import UNetDecoder
from mce_train.benchmarks.brats.models import QUICK, build_network
from mce_train.benchmarks.brats.predictors import predict_subsets as brats_predict_subsets
from mce_train.evaluation import evaluate, predict_each_subset, predict_subsets, subset_keeps
from mce_train.network import MultiModalNet
from mce_train.subsets import named_subsets


def _batch(name: str, tmp: Path) -> tuple[benchmarks.Benchmark, MultiModalNet, Any]:
    """A benchmark's quick network (trained for no step, in eval mode) and a test batch in which some samples
    lack some modalities (so that a subset keeps only what a sample has)."""
    bench = benchmarks.get(name)
    (tmp / "data").mkdir(exist_ok=True)
    splits = bench.splits(tmp / "data", tmp / "cache", 0, "quick")
    recipe = bench.recipe("quick", len(splits.train))
    torch.manual_seed(0)
    model = bench.build(recipe.section("model"), splits).eval()
    ids = list(splits.test.sample_ids())
    present = torch.ones(len(ids), len(bench.modalities), dtype=torch.bool)
    present[0, 0] = False  # the first sample lacks the first modality, the second the last one
    present[1, -1] = False
    test = IncompleteDataset(splits.test, MissingMask(ids, bench.modalities, present))
    return bench, model, collate_incomplete([test[i] for i in range(min(3, len(test)))])


@pytest.mark.parametrize("name", ["avmnist", "iemocap", "nuscenes", "brats"])
def test_one_encoder_pass_predicts_every_subset_as_each_subset_alone(name: str, tmp_path: Path) -> None:
    bench, model, batch = _batch(name, tmp_path)
    masks = torch.stack([mask for _, mask in named_subsets(bench.modalities)])
    keeps = subset_keeps(batch.present, masks)
    assert keeps.shape == (2 ** len(bench.modalities) - 1, len(batch), len(bench.modalities))
    fast = bench.predictor or predict_subsets
    slow = sliding_window_each_subset if name == "brats" else predict_each_subset
    with torch.no_grad():
        batched, reference = fast(model, batch, keeps), slow(model, batch, keeps)
    assert batched.shape == reference.shape
    assert reference.shape[:2] == keeps.shape[:2]
    torch.testing.assert_close(batched, reference, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(reference[0], reference[-1], atol=1e-3)  # the subsets do differ
    metric_fast = evaluate(model, [batch], bench.metric, torch.device("cpu"), bench.predictor)
    metric_slow = evaluate(model, [batch], bench.metric, torch.device("cpu"), slow)
    assert list(metric_fast) == [subset for subset, _ in named_subsets(bench.modalities)]
    for subset, values in metric_slow.items():
        assert metric_fast[subset] == pytest.approx(values, rel=1e-4, abs=1e-4)


def test_the_skip_terms_give_the_decoder_s_logits() -> None:
    torch.manual_seed(0)
    decoder = UNetDecoder((2, 4, 8), n_classes=3)
    generator = torch.Generator().manual_seed(1)
    bottleneck = torch.randn(2, 8, 2, 2, 2, generator=generator)
    skips = [torch.randn(2, 2, 8, 8, 8, generator=generator), torch.randn(2, 4, 4, 4, 4, generator=generator)]
    with torch.no_grad():
        direct = decoder(bottleneck, skips)
        factored = decoder.forward_terms(bottleneck, decoder.skip_terms(skips))
        wrong = decoder.forward_terms(bottleneck, decoder.skip_terms([2 * skip for skip in skips]))
    torch.testing.assert_close(factored, direct, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(wrong, direct, atol=1e-3)  # the skips do enter through their terms


@pytest.mark.parametrize("completion", [True, False])
def test_brats_subsets_batched_equal_predict_per_subset(completion: bool) -> None:
    torch.manual_seed(0)
    model = build_network(QUICK, completion=completion).eval()
    generator = torch.Generator().manual_seed(2)
    side = QUICK.patch
    inputs = {m: torch.randn(2, 1, side, side, side, generator=generator) for m in model.modalities}
    present = torch.tensor([[True, True, False, True], [True, True, True, True]])
    keeps = subset_keeps(present, torch.stack([mask for _, mask in named_subsets(model.modalities)]))
    with torch.no_grad():
        h = model.encode(inputs, present)
        fast = brats_predict_subsets(model, h, keeps, voxels=3 * side**3)  # 1 subset of 2 rows per chunk
        each = torch.stack([model.predict(h, keep) for keep in keeps])
    torch.testing.assert_close(fast, each, rtol=1e-4, atol=1e-5)


class _Doubled(MultiModalNet):
    """A network whose ``predict`` is its own: the BraTS shortcut must not bypass it."""

    def predict(self, h: Tensor, keep: Tensor) -> Tensor:
        return 2 * super().predict(h, keep)


def test_brats_shortcut_respects_a_network_s_own_predict() -> None:
    torch.manual_seed(0)
    net = build_network(QUICK).eval()
    doubled = _Doubled(net.modalities, dict(net.encoders.items()), net.head, dict(net.unimodal_heads.items()))
    doubled.complete = net.complete  # type: ignore[method-assign]
    side = QUICK.patch
    inputs = {m: torch.randn(1, 1, side, side, side) for m in net.modalities}
    present = torch.ones(1, 4, dtype=torch.bool)
    keeps = present[None].expand(2, -1, -1)
    with torch.no_grad():
        h = net.encode(inputs, present)
        torch.testing.assert_close(brats_predict_subsets(doubled, h, keeps), 2 * brats_predict_subsets(net, h, keeps))


def test_generic_subsets_are_batched_within_the_budget() -> None:
    calls: list[int] = []

    class _Counting(MultiModalNet):
        def predict(self, h: Tensor, keep: Tensor) -> Tensor:
            calls.append(h.shape[0])
            return (h * keep[:, :, None].to(h.dtype)).sum(1)

    model = _Counting(
        ("a", "b"),
        {"a": torch.nn.Identity(), "b": torch.nn.Identity()},
        torch.nn.Identity(),
        {
            "a": torch.nn.Identity(),
            "b": torch.nn.Identity(),
        },
    )
    h = torch.randn(4, 2, 5)
    keeps = subset_keeps(torch.ones(4, 2, dtype=torch.bool), torch.tensor([[True, False], [False, True], [True, True]]))
    out = model.predict_subsets(h, keeps, budget=2 * h.numel())
    assert calls == [8, 4]  # two subsets of 4 rows, then one
    torch.testing.assert_close(out, torch.stack([h[:, 0], h[:, 1], h.sum(1)]))
    with pytest.raises(ValueError, match="keeps"):
        model.predict_subsets(h, keeps[0])
