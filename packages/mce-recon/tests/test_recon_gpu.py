"""CUDA: the same output as on the CPU, and bf16 autocast close to fp32 (skipped cleanly without a GPU)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from mce_recon import CompletionTransformer

Build = Callable[..., CompletionTransformer]

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

PRESENT = torch.tensor([[True, False, True], [False, True, False], [True, True, True], [False, False, False]])


@pytest.mark.parametrize("spatial_shape", [(), (4, 5), (2, 3, 4)])
@pytest.mark.parametrize("options", [{}, {"mask_missing_keys": True, "refine_observed": False, "max_tokens": 30}])
def test_cuda_matches_cpu(spatial_shape: tuple[int, ...], options: dict[str, object], build: Build) -> None:
    model = build(depth=2, **options)
    features = torch.randn(4, 3, 8, *spatial_shape)
    with torch.no_grad():
        expected = model(features, PRESENT)
        got = model.cuda()(features.cuda(), PRESENT.cuda())
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-4)


def test_cuda_bf16_autocast_and_backward(build: Build) -> None:
    model = build(depth=2).cuda().train()
    features = torch.randn(4, 3, 8, 6, 6, device="cuda", requires_grad=True)
    present = PRESENT.cuda()
    with torch.no_grad():
        reference = model(features, present)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        low = model(features, present)
    assert low.dtype == torch.float32
    assert (low - reference).abs().max() <= 0.05 * reference.abs().max()
    low.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
