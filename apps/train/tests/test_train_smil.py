"""SMIL: the prior mixture and K-means on hand-worked points, the reconstruction and perturbations against a
direct computation, the meta-step against a hand-made inner step and finite differences (second order), and
end-to-end runs on AVMNIST and IEMOCAP and a resume."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.functional import cross_entropy, mse_loss, softplus

from mce_data import Batch
from mce_train import checkpoint
from mce_train.benchmarks.heads import ConcatHead
from mce_train.cli import main
from mce_train.methods.smil import (
    SMIL,
    SMILNet,
    incomplete_patterns,
    kmeans,
    lloyd,
    meta_loss,
    prior_mixture,
)
from mce_train.network import MultiModalNet


def _ce(prediction: Tensor, target: Tensor) -> Tensor:
    return cross_entropy(prediction, target, reduction="none")


def test_the_prior_mixture_is_the_softplus_weighted_mean() -> None:
    logits = torch.tensor([[0.0, 1.0], [-2.0, 3.0]])
    priors = torch.tensor([[1.0, 0.0, 2.0], [0.0, 4.0, -2.0]])
    out = prior_mixture(logits, priors)
    for n in range(2):
        w = [math.log1p(math.exp(float(v))) for v in logits[n]]
        expected = [(w[0] * float(priors[0, d]) + w[1] * float(priors[1, d])) / (w[0] + w[1]) for d in range(3)]
        assert out[n].tolist() == pytest.approx(expected, rel=1e-6)


def test_kmeans_finds_two_clusters_and_a_warm_start_keeps_their_order() -> None:
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0], [10.0, 12.0], [11.0, 11.0]])
    low, high = [0.0, 0.5], [31 / 3, 11.0]
    centres = kmeans(x, 2, generator=torch.Generator().manual_seed(0))
    assert sorted(centres.tolist()) == [pytest.approx(low), pytest.approx(high)]
    warm = kmeans(x + 1.0, 2, generator=torch.Generator(), init=torch.tensor([[12.0, 12.0], [0.0, 0.0]]))
    assert warm[0].tolist() == pytest.approx([h + 1 for h in high])  # centre 0 stays the high cluster
    assert warm[1].tolist() == pytest.approx([v + 1 for v in low])
    # fewer points than clusters: the points, repeated in order
    assert kmeans(x[:2], 3, generator=torch.Generator()).tolist() == [[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    # a centre that wins no point keeps its place
    moved, inertia = lloyd(x[:2], torch.tensor([[0.0, 0.0], [50.0, 50.0]]))
    assert moved.tolist() == [[0.0, 0.5], [50.0, 50.0]]
    assert inertia == pytest.approx(0.5)


def test_incomplete_patterns_count_the_training_mask() -> None:
    present = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    patterns, counts = incomplete_patterns(present)
    found = {tuple(p.tolist()): float(c) for p, c in zip(patterns, counts, strict=True)}
    assert found == {(True, True, False): 2.0, (True, False, False): 1.0}
    patterns, counts = incomplete_patterns(torch.ones(3, 2, dtype=torch.bool))  # none: every proper subset
    assert sorted(tuple(p.tolist()) for p in patterns) == [(False, True), (True, False)]
    assert counts.tolist() == [1.0, 1.0]


def _net(dim: int = 2, hidden: int = 4, n_priors: int = 2, dtype: torch.dtype = torch.float32) -> SMILNet:
    torch.manual_seed(0)
    modalities = ("a", "b")
    base = MultiModalNet(
        modalities,
        {name: nn.Linear(3, dim) for name in modalities},
        ConcatHead(2, dim, hidden, 3),
        {name: nn.Linear(dim, 3) for name in modalities},
    )
    net = SMILNet(base, n_priors).to(dtype)
    completion = net.smil()
    completion.priors.copy_(torch.randn(2, n_priors, dim))
    completion.defined.fill_(True)
    return net


def test_the_reconstruction_fills_dropped_slots_from_what_the_sample_has() -> None:
    net = _net()
    completion = net.smil()
    h = torch.tensor([[[1.0, 2.0], [float("nan"), 5.0]], [[0.5, -1.0], [3.0, 4.0]], [[7.0, 8.0], [9.0, 1.0]]])
    keep = torch.tensor([[True, False], [False, True], [True, True]])
    out = completion.reconstruct(h, keep)
    for n in range(3):
        context = [*(h[n, m].tolist() if keep[n, m] else [0.0, 0.0] for m in range(2))]
        c = torch.tensor([v for pair in context for v in pair] + keep[n].float().tolist())
        for m in range(2):
            if keep[n, m]:
                assert torch.equal(out[n, m], h[n, m])
                continue
            layer = completion.weights[m]
            assert isinstance(layer, nn.Linear)
            w = softplus(layer.weight @ c + layer.bias)
            expected = sum(w[k] * completion.priors[m, k] for k in range(2)) / w.sum()
            assert torch.allclose(out[n, m], expected, atol=1e-6)
    assert torch.isfinite(out).all()  # the dropped NaN is never read
    # the completion slot: perturbation softplus(fc1(c)) on incomplete samples only, complete ones untouched
    full = completion(h, keep)
    assert torch.equal(full[2], h[2])
    delta = softplus(completion.fused(completion.context(h, keep))).reshape(3, 2, 2)
    assert torch.allclose(full[:2], out[:2] + delta[:2], atol=1e-6)


def test_the_hidden_perturbation_sits_after_the_first_relu_and_noise_only_while_sampling() -> None:
    net = _net()
    h = torch.randn(4, 2, 2)
    keep = torch.tensor([[True, True], [True, False], [False, True], [True, False]])
    prediction, fused, hidden = net.parts(h, keep)
    assert torch.allclose(fused, net.complete(h, keep).reshape(4, 4))
    linear1, _, linear2 = net.decoder_layers()
    clean = torch.relu(linear1(fused))
    bump = softplus(net.hidden_noise(fused)) * (~keep.all(1))[:, None]
    assert torch.allclose(hidden, clean + bump, atol=1e-6)
    assert torch.allclose(prediction, linear2(clean + bump), atol=1e-6)
    assert torch.allclose(prediction[0], net.head(h[:1])[0], atol=1e-6)  # a complete sample: the plain head
    assert torch.equal(net.predict(h, keep), prediction)
    torch.manual_seed(3)
    with net.sampling():
        noisy, _, _ = net.parts(h, keep)
    torch.manual_seed(3)
    completion = net.smil()
    mu1 = completion.fused(completion.context(h, keep))
    delta = softplus(mu1 + torch.randn_like(mu1)).reshape(4, 2, 2) * (~keep.all(1))[:, None, None]
    fused_noisy = (completion.reconstruct(h, keep) + delta).reshape(4, 4)
    mu2 = net.hidden_noise(fused_noisy)
    hidden_noisy = torch.relu(linear1(fused_noisy)) + softplus(mu2 + torch.randn_like(mu2)) * (~keep.all(1))[:, None]
    assert torch.allclose(noisy, linear2(hidden_noisy), atol=1e-5)
    assert not completion.sampling


def _batch(dtype: torch.dtype = torch.float32) -> Batch:
    generator = torch.Generator().manual_seed(1)
    present = torch.tensor([[1, 0], [1, 0], [0, 1], [1, 1], [1, 1], [1, 1]], dtype=torch.bool)
    inputs = {
        name: torch.randn(6, 3, generator=generator, dtype=dtype) * present[:, m, None]
        for m, name in enumerate(("a", "b"))
    }
    lengths = {name: torch.ones(6, dtype=torch.long) for name in inputs}
    target = torch.tensor([0, 1, 2, 1, 0, 2])
    return Batch([str(i) for i in range(6)], inputs, lengths, present, target, {})


KEEP = torch.tensor([[True, False], [False, True], [True, False]])


def _meta(net: SMILNet, batch: Batch, order: str = "second") -> tuple[Tensor, dict[str, float]]:
    torch.manual_seed(5)
    return meta_loss(net, batch, task_loss=_ce, keep_for=lambda n: KEEP[:n], lr=0.5, second_order=order == "second")


def test_the_meta_loss_is_the_inner_step_then_the_outer_terms_through_the_adapted_weights() -> None:
    net, batch = _net(), _batch()
    loss, logs = _meta(net, batch)
    # by hand: the inner loss on the three incomplete samples, one SGD step of the encoders and head on a copy
    torch.manual_seed(5)
    with net.sampling():
        train = {k: v[:3] for k, v in batch.inputs.items()}
        inner = _ce(net(train, batch.present[:3]), batch.target[:3]).mean()
    theta = [(n, p) for n, p in net.named_parameters() if n.startswith(("encoders.", "head."))]
    grads = torch.autograd.grad(inner, [p for _, p in theta], allow_unused=True)
    adapted = copy.deepcopy(net)
    with torch.no_grad():
        for (name, p), g in zip(theta, grads, strict=True):
            adapted.get_parameter(name).copy_(p - 0.5 * g if g is not None else p)
    val = {k: v[3:] for k, v in batch.inputs.items()}
    h = adapted.encode(val, batch.present[3:])
    _, fused_clean, hidden_clean = adapted.parts(h, batch.present[3:])
    noised, fused_noised, hidden_noised = adapted.parts(h, KEEP)
    outer = _ce(noised, batch.target[3:]).mean()
    outer = outer + 0.01 * mse_loss(fused_noised, fused_clean) + 0.01 * mse_loss(hidden_noised, hidden_clean)
    assert logs["meta_train"] == pytest.approx(float(inner.detach()), rel=1e-5)
    assert logs["meta_val"] == pytest.approx(float(outer.detach()), rel=1e-5)
    assert float(loss.detach()) == pytest.approx(float((inner + outer).detach()), rel=1e-5)


def test_the_gradient_is_second_order_as_finite_differences_say() -> None:
    net, batch = _net(dtype=torch.float64), _batch(torch.float64)
    loss, _ = _meta(net, batch)
    loss.backward()  # type: ignore[no-untyped-call]
    first = copy.deepcopy(net)
    first.zero_grad()
    first_loss, _ = _meta(first, batch, "first")
    first_loss.backward()  # type: ignore[no-untyped-call]
    # the same value, another gradient
    assert float(first_loss.detach()) == pytest.approx(float(loss.detach()), rel=1e-12)
    for name in ("encoders.a.weight", "head.decoder.0.weight", "completion.weights.1.weight", "hidden_noise.bias"):
        param = net.get_parameter(name)
        grad = param.grad
        assert grad is not None
        for index in [(0, 0), (1, 2)] if param.dim() == 2 else [(0,), (3,)]:
            original = float(param.data[index])
            param.data[index] = original + 1e-6
            up = float(_meta(net, batch)[0].detach())
            param.data[index] = original - 1e-6
            down = float(_meta(net, batch)[0].detach())
            param.data[index] = original
            assert float(grad[index]) == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-7), (name, index)
    inner_grad, first_grad = net.get_parameter("encoders.a.weight").grad, first.get_parameter("encoders.a.weight").grad
    assert inner_grad is not None
    assert first_grad is not None
    assert not torch.allclose(inner_grad, first_grad, rtol=1e-3)  # the second-order term matters


def test_the_inner_learning_rate_decays_tenfold_per_window() -> None:
    method = SMIL(torch.ones(1, 2, dtype=torch.bool), torch.ones(1), task_loss=_ce, inner_lr=1e-3, decay_steps=4)
    assert [method.inner_lr_at(t) for t in (0, 3, 4, 9)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5])


def _run(out: Path, *extra: str) -> dict[str, Any]:
    assert main(["--quick", "--no-progress", "--out", str(out), "--methods", "smil", *extra]) == 0
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


@pytest.mark.parametrize(
    ("benchmark", "extra"),
    [("avmnist", ()), ("avmnist", ("--protocol", "fig7", "--audio-present", "0.3")), ("iemocap", ())],
)
def test_smil_trains_with_its_terms_and_priors(
    benchmark: str, extra: tuple[str, ...], no_real_data: Path, runs: Path
) -> None:
    out = runs / f"smil-{benchmark}-{len(extra)}"
    record = _run(out, "--benchmark", benchmark, "--steps", "10", *extra)
    log = (out / "runs" / "smil-seed0" / "train_log.csv").read_text().splitlines()
    assert {"meta_train", "meta_val", "fused_mse", "hidden_mse", "inner_lr"} <= set(log[0].split(","))
    assert any(float(row.split(",")[log[0].split(",").index("meta_val")]) > 0 for row in log[1:])
    state = checkpoint.load(out / "runs" / "smil-seed0" / "checkpoint.pt")
    assert state["model"]["completion.defined"].all()  # every modality has priors
    assert state["model"]["completion.priors"].abs().sum() > 0
    scores = record["per_seed"][0]["methods"]["smil"]["test"]
    assert all(0.0 <= s[record["metric"]] <= 100.0 for s in scores.values())


def test_a_killed_smil_run_resumes_to_the_same_numbers(
    no_real_data: Path, runs: Path, kill_at_step: Callable[[int | None], None]
) -> None:
    args = ["--steps", "14", "--checkpoint-every", "4"]  # 8 steps an epoch: prior passes at 0 and 8
    reference = _run(runs / "smil-ref", *args)
    kill_at_step(11)
    with pytest.raises(KeyboardInterrupt):
        _run(runs / "smil-killed", *args)
    kill_at_step(None)
    resumed = _run(runs / "smil-killed", *args, "--resume")
    assert resumed["per_seed"][0]["methods"] == reference["per_seed"][0]["methods"]
    log = Path("runs") / "smil-seed0" / "train_log.csv"
    assert (runs / "smil-killed" / log).read_text() == (runs / "smil-ref" / log).read_text()
