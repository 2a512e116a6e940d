"""CUDA: the same values as on the CPU, and per-step functions free of host synchronisation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import Tensor

from mce_losses import (
    MCEObjective,
    auxiliary_loss,
    capability_statistics,
    classification_score,
    dice_score,
    factor_a,
    factor_b,
    pair_features,
    shapley_from_pairs,
    single_modal_loss,
    subset_loss,
    subset_pairs,
)

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@contextmanager
def _no_host_sync() -> Iterator[None]:
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def _step(device: str) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(0)
    n, m, d, c = 64, 4, 8, 5
    present = torch.rand(n, m, generator=generator) < 0.6
    present[~present.any(1), 0] = True
    features = torch.randn(n, m, d, 3, generator=generator)
    logits = torch.randn(n, m, c, generator=generator)
    target = torch.randint(0, c, (n,), generator=generator)
    mix = torch.randn(m * d * 3, m * d * 3, generator=generator) * 0.05
    present, target = present.to(device), target.to(device)
    features = features.to(device).requires_grad_()
    logits = logits.to(device).requires_grad_()
    mix, head = mix.to(device), torch.randn(m * d * 3, c, generator=generator).to(device)

    pairs = subset_pairs(present)  # data-dependent sizes: synchronises once, by design
    a = factor_a(present).to(device)  # once per training set, not per step
    rows = pair_features(features, pairs)
    with _no_host_sync():
        reconstructed = rows + (rows.flatten(1) @ mix).view_as(rows)
        row_logits = reconstructed.flatten(1) @ head
        pair_losses = torch.nn.functional.cross_entropy(row_logits, target[pairs.sample_index], reduction="none")
        unimodal = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), target[:, None].expand(-1, m), reduction="none"
        )
        phi = shapley_from_pairs(classification_score(row_logits, target[pairs.sample_index]), pairs)
        upper = torch.stack([classification_score(logits[:, k], target) for k in range(m)], 1)
        b = factor_b(*capability_statistics(upper, phi, present))
        sub = subset_loss(pair_losses, pairs)
        aux = auxiliary_loss(reconstructed, features, pairs, a * b)
        single = single_modal_loss(unimodal, present, a * b)
        terms = MCEObjective(a).to(device)(
            task=pair_losses.mean(),
            present=present,
            factor_b=b,
            unimodal_losses=unimodal,
            pairs=pairs,
            pair_losses=pair_losses,
            reconstructed=reconstructed,
            features=features,
        )
        dice = dice_score(features[..., 0] > 0, features[..., 1] > 0)
    grad_features, grad_logits = torch.autograd.grad(terms.total, (features, logits))
    out = {
        "phi": phi,
        "b": b,
        "sub": sub,
        "aux": aux,
        "single": single,
        "total": terms.total,
        "dice": dice,
        "grad_features": grad_features,
        "grad_logits": grad_logits,
    }
    return {k: v.detach().cpu() for k, v in out.items()}


def test_cuda_matches_cpu_without_host_sync() -> None:
    cpu, cuda = _step("cpu"), _step("cuda")
    for name in cpu:
        torch.testing.assert_close(cuda[name], cpu[name], rtol=1e-4, atol=1e-5, msg=name)
