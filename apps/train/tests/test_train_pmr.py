"""PMR: prototypes against class means by hand, the prototypical cross-entropy on three points, the
rebalance coefficients on hand-worked ratios, dense maps against a voxel-by-voxel computation, and
end-to-end runs and a resume."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from mce_train import benchmarks
from mce_train.cli import main
from mce_train.methods.pmr import (
    class_sums,
    class_weights,
    coefficients,
    locations,
    prototype_terms,
    update_prototypes,
)


def _prototypes(features: torch.Tensor, target: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    sums, counts = class_sums(locations(features), class_weights(target, k, ()))
    return update_prototypes(torch.zeros(k, features.shape[1]), torch.zeros(k, dtype=torch.bool), sums, counts, 0.2)


def test_prototypes_are_the_class_means_then_a_moving_average() -> None:
    features = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    prototypes, defined = _prototypes(features, torch.tensor([0, 0, 1]), 3)
    assert prototypes.tolist() == [[1.0, 0.0], [0.0, 4.0], [0.0, 0.0]]
    assert defined.tolist() == [True, True, False]  # class 2 never seen: no prototype
    # a second pass sees classes 0 and 2: 0 blends 0.8 new + 0.2 old, 1 keeps its old, 2 is new
    sums, counts = class_sums(
        locations(torch.tensor([[3.0, 5.0], [7.0, 7.0]])), class_weights(torch.tensor([0, 2]), 3, ())
    )
    prototypes, defined = update_prototypes(prototypes, defined, sums, counts, 0.2)
    assert torch.allclose(prototypes, torch.tensor([[0.8 * 3 + 0.2 * 1, 0.8 * 5], [0.0, 4.0], [7.0, 7.0]]))
    assert defined.all()


def test_the_prototypical_cross_entropy_on_three_points() -> None:
    features = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    target = torch.tensor([0, 0, 1])
    prototypes, defined = torch.tensor([[1.0, 0.0], [0.0, 4.0]]), torch.tensor([True, True])
    terms = prototype_terms(locations(features), class_weights(target, 2, ()), prototypes, defined)
    # distances to (c0, c1): (1, 4), (1, sqrt(20)), (sqrt(17), 0); logits are -distances
    d = [(1.0, 4.0), (1.0, math.sqrt(20)), (math.sqrt(17), 0.0)]
    log_p = [[-a - math.log(math.exp(-a) + math.exp(-b)), -b - math.log(math.exp(-a) + math.exp(-b))] for a, b in d]
    pce = -(log_p[0][0] + log_p[1][0] + log_p[2][1]) / 3
    entropy = sum(-sum(math.exp(x) * x for x in row) for row in log_p) / 3
    score = math.exp(log_p[0][0]) + math.exp(log_p[1][0]) + math.exp(log_p[2][1])
    assert terms["pce"].item() == pytest.approx(pce, rel=1e-6)
    assert terms["entropy"].item() == pytest.approx(entropy, rel=1e-6)
    assert terms["score"].item() == pytest.approx(score, rel=1e-6)
    assert terms["weight"].item() == 3.0


def test_a_class_without_prototype_leaves_the_softmax_and_its_samples_out() -> None:
    features = torch.tensor([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0]])
    prototypes = torch.tensor([[1.0, 0.0], [0.0, 4.0], [9.0, 9.0]])
    with_two = prototype_terms(
        locations(features),
        class_weights(torch.tensor([0, 1, 2]), 3, ()),
        prototypes,
        torch.tensor([True, True, False]),
    )
    only_two = prototype_terms(
        locations(features[:2]), class_weights(torch.tensor([0, 1]), 2, ()), prototypes[:2], torch.tensor([True, True])
    )
    for key in ("pce", "entropy", "score", "weight"):
        assert with_two[key].item() == pytest.approx(only_two[key].item(), rel=1e-6), key


def test_the_rebalance_coefficients_on_hand_worked_ratios() -> None:
    # two modalities: rho_a = 0.6 / 0.4 = 1.5 -> the slow b's PCE gets clip(1/rho_b - 1) = 0.5, a's entropy 0.5
    beta, gamma = coefficients(torch.tensor([0.6, 0.4]), torch.tensor([True, True]))
    assert beta.tolist() == pytest.approx([0.0, 0.5])
    assert gamma.tolist() == pytest.approx([0.5, 0.0])
    # three: rho = 0.5 / 0.5 = 1, 0.4 / 0.55, 0.6 / 0.45
    beta, gamma = coefficients(torch.tensor([0.5, 0.4, 0.6]), torch.tensor([True, True, True]))
    assert beta.tolist() == pytest.approx([0.0, 0.55 / 0.4 - 1, 0.0])
    assert gamma.tolist() == pytest.approx([0.0, 0.0, 0.6 / 0.45 - 1])
    # clipped at 1; a modality with no score (absent from the batch) neither counts nor gets a weight
    beta, gamma = coefficients(torch.tensor([0.9, 0.1, 0.0]), torch.tensor([True, True, False]))
    assert beta.tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert gamma.tolist() == pytest.approx([1.0, 0.0, 0.0])
    beta, gamma = coefficients(torch.tensor([0.9, 0.0]), torch.tensor([True, False]))
    assert beta.tolist() == [0.0, 0.0]
    assert gamma.tolist() == [0.0, 0.0]


def test_dense_maps_are_the_voxel_computation_with_each_voxel_carrying_its_cell_feature() -> None:
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(2, 3, 2, 2, generator=generator)  # [n, C, X, Y] at half the label resolution
    target = torch.randint(-1, 3, (2, 4, 4), generator=generator)  # -1: ignored cells
    weights = class_weights(target, 3, (2, 2))
    sums, counts = class_sums(locations(features), weights)
    up = features.repeat_interleave(2, 2).repeat_interleave(2, 3)  # nearest upsampling to the labels
    voxels = up.permute(0, 2, 3, 1).reshape(-1, 3)
    labels = target.reshape(-1)
    for k in range(3):  # in cells: a cell of 2 x 2 voxels weighs 4 voxels
        assert 4 * counts[k].item() == (labels == k).sum().item()
        assert torch.allclose(4 * sums[k], voxels[labels == k].sum(0), atol=1e-5)
    prototypes, defined = torch.randn(3, 3, generator=generator), torch.tensor([True, True, True])
    terms = prototype_terms(locations(features), weights, prototypes, defined)
    valid = labels >= 0
    log_p = torch.log_softmax(-torch.cdist(voxels[valid], prototypes), 1)
    assert terms["pce"].item() == pytest.approx(torch.nn.functional.nll_loss(log_p, labels[valid]).item(), rel=1e-5)
    assert terms["entropy"].item() == pytest.approx(-(log_p.exp() * log_p).sum(1).mean().item(), rel=1e-5)


def _run(out: Path, *extra: str) -> dict[str, Any]:
    assert main(["--quick", "--no-progress", "--out", str(out), "--methods", "pmr", *extra]) == 0
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


@pytest.mark.parametrize("benchmark", ["avmnist", "iemocap"])
def test_pmr_trains_with_its_terms_across_prototype_passes(benchmark: str, no_real_data: Path, runs: Path) -> None:
    """Several epochs; BraTS and nuScenes (terms from step 1) run in test_train_methods' every-benchmark test."""
    record = _run(runs / f"pmr-{benchmark}", "--benchmark", benchmark, "--steps", "12")
    log = (runs / f"pmr-{benchmark}" / "runs" / "pmr-seed0" / "train_log.csv").read_text().splitlines()
    names = benchmarks.get(benchmark).modalities
    assert {f"{term}_{name}" for term in ("score", "beta", "gamma") for name in names} <= set(log[0].split(","))
    scores = record["per_seed"][0]["methods"]["pmr"]["test"]
    assert all(0.0 <= s[record["metric"]] <= 100.0 for s in scores.values())


def test_a_killed_pmr_run_resumes_across_prototype_passes(
    no_real_data: Path, runs: Path, kill_at_step: Callable[[int | None], None]
) -> None:
    args = ["--steps", "14", "--checkpoint-every", "4"]
    reference = _run(runs / "pmr-ref", *args)
    kill_at_step(11)
    with pytest.raises(KeyboardInterrupt):
        _run(runs / "pmr-killed", *args)
    kill_at_step(None)
    resumed = _run(runs / "pmr-killed", *args, "--resume")
    assert resumed["per_seed"][0]["methods"] == reference["per_seed"][0]["methods"]
    log = Path("runs") / "pmr-seed0" / "train_log.csv"
    assert (runs / "pmr-killed" / log).read_text() == (runs / "pmr-ref" / log).read_text()
