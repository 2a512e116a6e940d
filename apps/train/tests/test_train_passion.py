"""PASSION: the pixel-wise and semantic-wise distillation against loops over locations, the relative preference and
the task-wise weights on hand-worked numbers, the epoch schedule of eta, the loss on a tiny network (the
gradient-wise mask reaches the unimodal heads), the branches' features, end-to-end runs and a resume."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from mce_train.benchmarks.brats.models import QUICK, FusionHead, build_network
from mce_train.benchmarks.heads import ConcatHead, mlp_decoder
from mce_train.cli import main
from mce_train.methods.passion import (
    PASSION,
    branch,
    epoch_preference,
    final_layer,
    pixel_distillation,
    semantic_distillation,
    step_preference,
    update_weights,
    valid_locations,
)
from mce_train.methods.pmr import class_weights
from mce_train.network import MultiModalNet


def _kl_loop(student: Tensor, teacher: Tensor, valid: Tensor, t: float) -> list[float]:
    """Per sample: T² Σ p_t log(p_t / p_s) over classes and valid locations / (K · valid locations), by hand."""
    out = []
    for b in range(student.shape[0]):
        total, count = 0.0, 0
        for loc in range(student.shape[2]):
            if not valid[b, loc]:
                continue
            count += 1
            zs = [float(x) / t for x in student[b, :, loc]]
            zt = [float(x) / t for x in teacher[b, :, loc]]
            ps = [min(max(math.exp(z) / sum(math.exp(y) for y in zs), 0.005), 1.0) for z in zs]
            pt = [min(max(math.exp(z) / sum(math.exp(y) for y in zt), 0.005), 1.0) for z in zt]
            total += t * t * sum(q * (math.log(q) - math.log(p)) for p, q in zip(ps, pt, strict=True))
        out.append(total / (student.shape[1] * max(count, 1)))
    return out


def test_pixel_distillation_is_the_softened_kl_over_classes_and_valid_locations() -> None:
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 3, 2, generator=generator) * 3, torch.randn(2, 3, 2, generator=generator) * 3
    valid = torch.tensor([[True, False], [True, True]])
    got = pixel_distillation(student, teacher, valid, 4.0)
    assert got.tolist() == pytest.approx(_kl_loop(student, teacher, valid, 4.0), rel=1e-5)
    # a single binary logit z is the two classes (0, z); vectors [n, K] have one location
    z_s, z_t = torch.randn(2, 1, 3, generator=generator), torch.randn(2, 1, 3, generator=generator)
    pair = pixel_distillation(z_s, z_t, torch.ones(2, 3, dtype=torch.bool), 2.0)
    expected = _kl_loop(torch.cat([0 * z_s, z_s], 1), torch.cat([0 * z_t, z_t], 1), torch.ones(2, 3), 2.0)
    assert pair.tolist() == pytest.approx(expected, rel=1e-5)
    vector = pixel_distillation(student[:, :, 0], teacher[:, :, 0], torch.ones(2, 1, dtype=torch.bool), 4.0)
    assert vector.tolist() == pytest.approx(_kl_loop(student[:, :, :1], teacher[:, :, :1], torch.ones(2, 1), 4.0))


def _cos(a: Tensor, b: Tensor) -> float:
    return float((a * b).sum() / (max(float(a.norm()), 1e-5) * max(float(b.norm()), 1e-5)))


def _semantic_group(fs: Tensor, ft: Tensor, labels: list[int]) -> tuple[list[tuple[float, float]], int]:
    """One group (``f: [L, C]``, labels, -1 ignored): per location (Σ gap², Σ |gap|) over the present classes, and
    the number of (class, location) cells."""
    classes = sorted({k for k in labels if k >= 0})

    def proto(f: Tensor, k: int) -> Tensor:
        rows = [f[i] for i, y in enumerate(labels) if y == k]
        return torch.stack(rows).sum(0) / (len(rows) + 1e-5)

    sums, cells = [], 0
    for i, y in enumerate(labels):
        gaps = [_cos(fs[i], proto(fs, k)) - _cos(ft[i], proto(ft, k)) for k in classes] if y >= 0 else []
        sums.append((sum(g * g for g in gaps), sum(abs(g) for g in gaps)))
        cells += len(gaps)
    return sums, cells


def test_semantic_distillation_on_dense_maps_is_the_per_sample_prototype_computation() -> None:
    generator = torch.Generator().manual_seed(1)
    fs, ft = torch.randn(2, 3, 2, 2, generator=generator), torch.randn(2, 3, 2, 2, generator=generator)
    target = torch.tensor([[[0, 1], [1, -1]], [[2, 2], [0, 2]]])
    loss, distance = semantic_distillation(fs, ft, class_weights(target, 3, (2, 2)))
    for b in range(2):
        labels = target[b].flatten().tolist()
        per_location, cells = _semantic_group(fs[b].flatten(1).T, ft[b].flatten(1).T, labels)
        assert loss[b].item() == pytest.approx(sum(p for p, _ in per_location) / cells, rel=1e-4)
        assert distance[b].item() == pytest.approx(sum(d for _, d in per_location) / cells, rel=1e-4)


def test_semantic_distillation_on_vectors_uses_the_batch_as_the_group() -> None:
    generator = torch.Generator().manual_seed(2)
    fs, ft = torch.randn(4, 3, generator=generator), torch.randn(4, 3, generator=generator)
    labels = [0, 1, 0, 2]
    loss, distance = semantic_distillation(fs, ft, class_weights(torch.tensor(labels), 3, ()))
    per_sample, _ = _semantic_group(fs, ft, labels)
    assert loss.tolist() == pytest.approx([p / 3 for p, _ in per_sample], rel=1e-4)
    assert distance.tolist() == pytest.approx([d / 3 for _, d in per_sample], rel=1e-4)
    same, zero = semantic_distillation(fs, fs.clone(), class_weights(torch.tensor(labels), 3, ()))
    assert same.abs().max().item() == 0.0
    assert zero.abs().max().item() == 0.0


def test_the_step_preference_on_hand_worked_distances() -> None:
    distance = torch.tensor([[0.2, 0.4, 9.0], [0.3, 9.0, 9.0], [0.1, 0.1, 0.4], [0.0, 0.0, 0.0]])
    present = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 1]], dtype=torch.bool)
    # rows: (-1/3, 1/3, -), (0, -, -), (-1/2, -1/2, 1), (-, -, 0: all distances zero, no NaN)
    rp = step_preference(distance, present)
    assert rp.tolist() == pytest.approx([-1 / 3 - 1 / 2, 1 / 3 - 1 / 2, 1.0])
    assert rp.sum().item() == pytest.approx(0.0, abs=1e-6)  # always: some modality trails whenever one leads


def test_the_epoch_preference_and_the_task_wise_weights() -> None:
    rp = epoch_preference(torch.tensor([0.1, 0.3, 0.2]), torch.tensor([True, True, True]))
    assert rp.tolist() == pytest.approx([0.5, -0.5, 0.0])
    rp = epoch_preference(torch.tensor([0.1, 0.3, 0.0]), torch.tensor([True, True, False]))
    assert rp.tolist() == pytest.approx([0.5, -0.5, 0.0])
    beta = update_weights(torch.ones(4), torch.tensor([0.4, -0.2, 0.1, -0.3]), 0.5)
    b = [0.8, 1.1, 0.95, 1.15]
    assert beta.tolist() == pytest.approx([2 * x / math.sqrt(sum(y * y for y in b)) for x in b])
    clamped = update_weights(torch.tensor([0.1, 4.0]), torch.tensor([1.0, -1.0]), 1.0)
    assert clamped.tolist() == pytest.approx([math.sqrt(2) * x / math.hypot(0.1, 4.0) for x in (0.1, 4.0)])


def _method(names: tuple[str, ...] = ("a", "b", "c"), **kwargs: Any) -> PASSION:
    def task(prediction: Tensor, target: Tensor) -> Tensor:
        return nn.functional.cross_entropy(prediction, target, reduction="none")

    defaults: dict[str, Any] = {"task_loss": task, "counts": torch.tensor([4.0, 2.0, 3.0]), "n_samples": 4}
    return PASSION(names, **{**defaults, **kwargs})


def test_eta_grows_from_the_first_update_and_beta_waits_for_the_warm_up() -> None:
    method = _method(("a", "b"), counts=torch.tensor([2.0, 4.0]), n_samples=4, eta_every=2, warmup_epochs=1)
    method.on_epoch_start(None, 0)  # type: ignore[arg-type]  # nothing seen yet
    method.distance_sum, method.steps_in_epoch = torch.tensor([5.0, 5.0]), 1
    method.on_epoch_start(None, 1)  # type: ignore[arg-type]  # epoch 0 is the warm-up
    assert method.beta.tolist() == [1.0, 1.0]
    assert method.eta == 0.01
    method.distance_sum, method.steps_in_epoch = torch.tensor([0.2, 0.8]), 1  # D = (0.1, 0.2): rp = (1/3, -1/3)
    method.on_epoch_start(None, 2)  # type: ignore[arg-type]  # epoch 1: 1 % 2 != 0, eta stays
    b = [1 - 0.01 / 3, 1 + 0.01 / 3]
    assert method.beta.tolist() == pytest.approx([math.sqrt(2) * x / math.hypot(*b) for x in b])
    method.distance_sum, method.steps_in_epoch = torch.tensor([0.2, 0.4]), 1
    method.on_epoch_start(None, 3)  # type: ignore[arg-type]  # epoch 2: eta grows first
    assert method.eta == pytest.approx(0.015)
    assert len(method.history) == 3


def _tiny() -> tuple[MultiModalNet, SimpleNamespace]:
    torch.manual_seed(0)
    names = ("a", "b", "c")
    model = MultiModalNet(
        names,
        {m: nn.Linear(2, 3) for m in names},
        ConcatHead(3, 3, 5, 3),
        {m: mlp_decoder(3, 4, 3) for m in names},
    )
    present = torch.tensor([[1, 1, 0], [1, 0, 1], [1, 1, 1], [1, 0, 1]], dtype=torch.bool)
    inputs = {m: torch.randn(4, 2) for m in names}
    return model, SimpleNamespace(
        inputs=inputs, present=present, lengths=None, extras=None, target=torch.tensor([0, 1, 2, 1])
    )


def test_the_loss_on_a_tiny_network_and_its_gradient_wise_mask() -> None:
    model, batch = _tiny()
    method = _method()
    method.beta = torch.tensor([0.5, 1.5, 1.0])
    w = [4 / 4, 4 / 2, 4 / 3]
    terms = method.terms(model, batch)
    h = model.encode(batch.inputs, batch.present)
    teacher = model.predict(h, batch.present).detach()
    for m in range(3):  # the pixel-wise term: the fused head on m alone against the teacher, by hand
        rows = [b for b in range(4) if batch.present[b, m]]
        only = torch.zeros(len(rows), 3, dtype=torch.bool)
        only[:, m] = True
        student = model.predict(h[rows], only).detach()
        kl = _kl_loop(student[:, :, None], teacher[rows][:, :, None], torch.ones(len(rows), 1), 4.0)
        assert terms["kl"][m].item() == pytest.approx(sum(kl) / 4, rel=1e-3)  # float32 log ratios
    trails = step_preference(terms["distance"], batch.present) > 0
    assert 0 < int(trails.sum()) < 3
    loss, logs = method.loss(model, batch)
    expected = terms["fused"] + sum(
        float(trails[m]) * float(method.beta[m]) * w[m] * terms["sep"][m]
        + 0.5 * float(method.beta[m]) * w[m] * terms["kl"][m]
        + 0.1 * float(trails[m]) * w[m] * terms["proto"][m]
        for m in range(3)
    )
    assert loss.item() == pytest.approx(float(expected.detach()), rel=1e-5)
    assert [logs[f"trails_{m}"] for m in "abc"] == trails.float().tolist()
    loss.backward()  # type: ignore[no-untyped-call]
    for m, name in enumerate("abc"):  # only a trailing modality's unimodal head learns this step
        grads = [p.grad for p in model.unimodal_heads[name].parameters()]
        moved = any(g is not None and g.abs().sum() > 0 for g in grads)
        assert moved == bool(trails[m]), name


def test_the_warm_up_trains_the_unimodal_heads_alone() -> None:
    model, batch = _tiny()
    method = _method(warmup_epochs=1)
    terms = method.terms(model, batch)
    loss, _ = method.loss(model, batch)
    assert loss.item() == pytest.approx(float(terms["sep"].detach() @ torch.tensor([1, 2, 4 / 3])))


def test_the_branches_read_the_input_of_the_heads_classifier() -> None:
    model, batch = _tiny()
    head = model.head
    assert isinstance(head, ConcatHead)
    classifier = head.decoder[-1]
    assert final_layer(head) is classifier
    h = model.encode(batch.inputs, batch.present)
    prediction, features = branch(model, final_layer(head), h, batch.present)
    assert torch.allclose(classifier(features), prediction)
    brats = build_network(QUICK)
    assert isinstance(brats.head, FusionHead)
    assert final_layer(brats.head) is brats.head.decoder.classifier
    model.head = nn.Sequential(head, nn.ReLU())
    with pytest.raises(ValueError, match="last layer"):
        branch(model, classifier, h, batch.present)
    assert valid_locations(torch.tensor([[1, -1], [0, 0]])).tolist() == [[True, False], [True, True]]


def _run(out: Path, *extra: str) -> dict[str, Any]:
    assert main(["--quick", "--no-progress", "--out", str(out), "--methods", "passion", *extra]) == 0
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


@pytest.mark.parametrize(
    ("benchmark", "steps"), [("brats", "3"), ("avmnist", "4"), ("iemocap", "4"), ("nuscenes", "4")]
)
def test_passion_trains_on_every_benchmark(benchmark: str, steps: str, no_real_data: Path, runs: Path) -> None:
    record = _run(runs / f"passion-{benchmark}", "--benchmark", benchmark, "--steps", steps)
    header = (runs / f"passion-{benchmark}" / "runs" / "passion-seed0" / "train_log.csv").read_text().splitlines()[0]
    assert {"fused", "sep", "kl", "proto"} <= set(header.split(","))
    scores = record["per_seed"][0]["methods"]["passion"]["test"]
    assert all(0.0 <= s[record["metric"]] <= 100.0 for s in scores.values())


def test_a_killed_passion_run_resumes_with_its_weights(
    no_real_data: Path, runs: Path, kill_at_step: Callable[[int | None], None]
) -> None:
    """nuScenes' quick split is one batch per epoch: the task-wise weights move at every step."""
    args = ["--benchmark", "nuscenes", "--steps", "7", "--checkpoint-every", "3"]
    reference = _run(runs / "passion-ref", *args)
    kill_at_step(5)
    with pytest.raises(KeyboardInterrupt):
        _run(runs / "passion-killed", *args)
    kill_at_step(None)
    resumed = _run(runs / "passion-killed", *args, "--resume")
    assert resumed["per_seed"][0]["methods"] == reference["per_seed"][0]["methods"]
    log = Path("runs") / "passion-seed0" / "train_log.csv"
    assert (runs / "passion-killed" / log).read_text() == (runs / "passion-ref" / log).read_text()
    betas = reference["per_seed"][0]["methods"]["passion"]["passion_beta"]["per_epoch"]
    assert len(betas) == 6  # one update per finished epoch (one batch per epoch)
    assert betas[-1] != [1.0, 1.0, 1.0]  # the weights moved
