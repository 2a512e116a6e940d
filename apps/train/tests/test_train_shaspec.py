"""ShaSpec: missing-feature generation, the alignment and domain losses and the residual fusion against direct
loops, every subset's prediction from one encoder pass against encoding the subset alone (vectors and BraTS'
packed maps), the shared modules and end-to-end runs on every benchmark (test_train_methods kills and resumes it)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import torch
from torch import nn

from mce_train.benchmarks.avmnist import models as avmnist
from mce_train.benchmarks.brats.blocks import N_FLAGS
from mce_train.benchmarks.brats.models import QUICK, build_network
from mce_train.benchmarks.brats.predictors import sliding_window_each_subset, sliding_window_predictor
from mce_train.cli import main
from mce_train.methods.base import MethodContext
from mce_train.methods.shaspec import (
    PairEncoder,
    ShaSpecBraTSNet,
    ShaSpecNet,
    alignment_pairs,
    assemble,
    build_shaspec,
    distribution_alignment,
    domain_classification,
    generate_missing,
)
from mce_train.methods.shaspec.network import SharedBranch, projection, trunk
from mce_train.network import MultiModalNet
from mce_train.subsets import named_subsets

KEEP = torch.tensor([[True, False, True], [False, True, False], [False, False, False]])


def _shared(n: int = 3, m: int = 3, c: int = 2) -> torch.Tensor:
    return torch.arange(n * m * c, dtype=torch.float32).reshape(n, m, c) + 1.0


def test_missing_features_are_the_mean_or_the_first_of_the_kept_shared_features() -> None:
    r = _shared()
    r[0, 1] = float("nan")  # dropped slots are never read
    r[1, 0] = float("nan")
    mean = generate_missing(r, KEEP, "mean")
    assert mean[0].tolist() == [(r[0, 0, 0] + r[0, 2, 0]).item() / 2, (r[0, 0, 1] + r[0, 2, 1]).item() / 2]
    assert mean[1].tolist() == r[1, 1].tolist()
    assert mean[2].tolist() == [0.0, 0.0]  # nothing kept: nothing to generate from
    first = generate_missing(r, KEEP, "first")
    assert first[0].tolist() == r[0, 0].tolist()
    assert first[1].tolist() == r[1, 1].tolist()
    assert first[2].tolist() == [0.0, 0.0]
    fused = -_shared()
    completed = assemble(fused, r, KEEP, "mean")
    for n in range(3):
        for m in range(3):
            expected = fused[n, m] if KEEP[n, m] else mean[n]
            assert completed[n, m].tolist() == expected.tolist(), (n, m)
    with pytest.raises(ValueError, match="rule"):
        generate_missing(r, KEEP, "median")


def test_the_alignment_pairs_are_the_official_cycle_each_pair_once() -> None:
    assert alignment_pairs(2) == [(0, 1)]
    assert alignment_pairs(3) == [(0, 1), (1, 2), (0, 2)]
    assert alignment_pairs(4) == [(0, 1), (1, 2), (2, 3), (0, 3)]  # flair-t1, t1-t1ce, t1ce-t2, t2-flair


def test_the_distribution_alignment_is_the_l1_over_the_samples_having_both() -> None:
    generator = torch.Generator().manual_seed(0)
    r = torch.randn(4, 3, 2, 2, generator=generator)
    present = torch.tensor([[True, True, False], [True, True, True], [False, True, True], [True, False, False]])
    expected = 0.0
    for a, b in [(0, 1), (1, 2), (0, 2)]:
        rows = [n for n in range(4) if present[n, a] and present[n, b]]
        diffs = [abs(r[n, a, i, j].item() - r[n, b, i, j].item()) for n in rows for i in range(2) for j in range(2)]
        expected += sum(diffs) / len(diffs)
    assert distribution_alignment(r, present).item() == pytest.approx(expected, rel=1e-6)
    # a pair no sample has both of adds nothing
    only = torch.tensor([[True, False, False], [False, True, False]])
    assert distribution_alignment(r[:2], only).item() == 0.0


def test_the_domain_classification_is_the_cross_entropy_of_each_present_slot_against_its_modality() -> None:
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 3, 3, generator=generator)
    terms = [
        -math.log(math.exp(logits[n, m, m].item()) / sum(math.exp(x) for x in logits[n, m].tolist()))
        for n in range(3)
        for m in range(3)
        if KEEP[n, m]
    ]
    assert domain_classification(logits, KEEP).item() == pytest.approx(sum(terms) / len(terms), rel=1e-6)
    assert domain_classification(logits, torch.zeros(3, 3, dtype=torch.bool)).item() == 0.0


def _vector_net(dim: int = 4, generation: str = "mean") -> ShaSpecNet:
    torch.manual_seed(0)
    network = MultiModalNet(
        avmnist.MODALITIES, avmnist.encoders(dim), avmnist.head(dim, 8), avmnist.unimodal_heads(dim, 8)
    )
    stems, shared = avmnist.encoders(dim), trunk(dim, 0)
    pairs = {name: PairEncoder(network.encoders[name], SharedBranch(stems[name], shared)) for name in stems}
    return ShaSpecNet(network, pairs, projection(dim, 0), nn.Linear(dim, 2), dim, generation)


def test_the_residual_fusion_and_the_generated_slots_by_hand() -> None:
    net = _vector_net(dim=3)
    fuse = net.fuse
    assert isinstance(fuse, nn.Linear)
    assert set(dict(fuse.named_parameters())) == {"weight"}  # no bias
    h = torch.randn(3, 2, 6, generator=torch.Generator().manual_seed(2))  # [r; s] per slot
    keep = torch.tensor([[True, True], [False, True], [False, False]])
    h[1, 0] = float("nan")  # dropped: never read
    h[2] = float("nan")
    completed = net.complete(h, keep)
    for n in range(3):
        kept = [m for m in range(2) if keep[n, m]]
        generated = sum((h[n, m, :3] for m in kept), torch.zeros(3)) / max(1, len(kept))
        for m in range(2):
            expected = h[n, m, :3] + fuse.weight @ h[n, m] if keep[n, m] else generated
            assert torch.allclose(completed[n, m], expected, atol=1e-6), (n, m)


def _subset_keeps(present: torch.Tensor, modalities: tuple[str, ...]) -> torch.Tensor:
    masks = torch.stack([mask for _, mask in named_subsets(modalities)])
    return present[None] & masks[:, None]


@pytest.mark.parametrize("generation", ["mean", "first"])
def test_every_subset_from_one_encoder_pass_is_the_subset_encoded_alone(generation: str) -> None:
    net = _vector_net(generation=generation).eval()
    generator = torch.Generator().manual_seed(3)
    inputs = {"image": torch.randn(5, 1, 28, 28, generator=generator), "audio": torch.randn(5, 1, 20, 20)}
    present = torch.tensor([[True, True], [True, False], [False, True], [True, True], [True, True]])
    keeps = _subset_keeps(present, net.modalities)
    with torch.no_grad():
        batched = net.predict_subsets(net.encode(inputs, present), keeps)
        alone = torch.stack([net.predict(net.encode(inputs, keep), keep) for keep in keeps])
    assert torch.allclose(batched, alone, atol=1e-5)
    assert not torch.allclose(batched[0], batched[2])  # image alone differs from image+audio


def _brats_net() -> ShaSpecBraTSNet:
    torch.manual_seed(0)
    network, other = build_network(QUICK), build_network(QUICK)
    dim = network.layout.bottleneck
    shared = other.encoders["flair"]
    pairs = {name: PairEncoder(network.encoders[name], shared, dim) for name in network.modalities}
    return ShaSpecBraTSNet(network, pairs, projection(dim, 3), nn.Linear(dim, 4), "mean")


def test_brats_subsets_and_the_packed_layout() -> None:
    net = _brats_net().eval()
    inputs = {name: torch.randn(2, 1, 16, 16, 16) for name in net.modalities}
    present = torch.tensor([[True, True, False, True], [False, True, True, True]])
    keeps = _subset_keeps(present, net.modalities)
    with torch.no_grad():
        h = net.encode(inputs, present)
        layout = net.layout
        assert h.shape[2] == layout.width + layout.bottleneck  # shared packed levels, then the specific bottleneck
        batched = net.predict_subsets(h, keeps)
        alone = torch.stack([net.predict(net.encode(inputs, keep), keep) for keep in keeps])
        completed = net.complete(h, keeps[4])
    assert torch.allclose(batched, alone, atol=1e-4)
    keep = keeps[4]
    flags = completed[:, :, layout.bottleneck : layout.bottleneck + N_FLAGS]
    assert torch.equal(flags[:, :, 0, 0, 0, 0] > 0.5, keep)
    assert bool((flags[:, :, 1] == 1).all())
    skips = layout.unpack(completed).skips
    shared_skips = layout.unpack(h[:, :, : layout.width]).skips
    for n in range(2):
        for m in range(4):
            for got, packed in zip(skips, shared_skips, strict=True):
                assert torch.equal(got[n, m], packed[n, m] if keep[n, m] else torch.zeros_like(got[n, m]))


def test_brats_whole_volumes_from_one_encoder_pass_per_window_are_each_subset_encoded_alone() -> None:
    net = _brats_net().eval()
    volumes = {name: torch.randn(1, 1, 16, 16, 32) for name in net.modalities}  # three overlapping windows
    present = torch.tensor([[True, False, True, True]])
    keeps = _subset_keeps(present, net.modalities)

    class Batch(SimpleNamespace):
        def __len__(self) -> int:
            return 1

    whole = Batch(inputs=volumes, present=present)
    with torch.no_grad():
        fast = sliding_window_predictor(net, whole, keeps)
        slow = sliding_window_each_subset(net, whole, keeps)
    assert fast.shape == (15, 1, 4, 16, 16, 32)
    assert torch.allclose(fast, slow, atol=1e-5)


def test_the_brats_build_shares_one_encoder_and_keeps_the_global_generator() -> None:
    context = cast(MethodContext, SimpleNamespace(network=lambda: build_network(QUICK), seed=0))
    torch.manual_seed(5)
    baseline = build_network(QUICK)  # what the baseline builds at the same seed
    after_baseline = torch.get_rng_state()
    torch.manual_seed(5)
    net = build_shaspec(context, "mean")
    assert torch.equal(torch.get_rng_state(), after_baseline)  # BraTS' crops draw as for the baseline
    assert isinstance(net, ShaSpecBraTSNet)
    assert net.completion is None
    encoders = [cast(PairEncoder, net.encoders[name]) for name in net.modalities]
    assert all(e.shared is encoders[0].shared for e in encoders)  # one shared encoder
    assert len({id(e.specific) for e in encoders}) == 4
    for name, encoder in zip(net.modalities, encoders, strict=True):  # specific: the baseline's initial weights
        pairs = zip(encoder.specific.parameters(), baseline.encoders[name].parameters(), strict=True)
        assert all(torch.equal(p, q) for p, q in pairs)
    shared = zip(encoders[0].shared.parameters(), baseline.encoders["flair"].parameters(), strict=True)
    assert not all(torch.equal(p, q) for p, q in shared)  # the shared encoder is initialised on its own


def _run(out: Path, *extra: str) -> dict[str, Any]:
    assert main(["--quick", "--no-progress", "--out", str(out), "--methods", "shaspec", *extra]) == 0
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


@pytest.mark.parametrize("benchmark", ["avmnist", "iemocap", "brats", "nuscenes"])
def test_shaspec_trains_on_every_benchmark(benchmark: str, no_real_data: Path, runs: Path) -> None:
    record = _run(runs / f"shaspec-{benchmark}", "--benchmark", benchmark, "--steps", "3")
    log = (runs / f"shaspec-{benchmark}" / "runs" / "shaspec-seed0" / "train_log.csv").read_text().splitlines()
    header = log[0].split(",")
    assert {"task", "dao", "dco"} <= set(header)
    rows = [dict(zip(header, line.split(","), strict=True)) for line in log[1:]]
    assert all(float(row["dco"]) > 0 and math.isfinite(float(row["dao"])) for row in rows)
    scores = record["per_seed"][0]["methods"]["shaspec"]["test"]
    assert all(0.0 <= s[record["metric"]] <= 100.0 for s in scores.values())
