"""torch.compile(fullgraph=True) and bf16 autocast run and agree with eager fp32."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from mce_recon import CompletionTransformer

Build = Callable[..., CompletionTransformer]

PRESENT = torch.tensor([[True, False, True], [False, True, False], [True, True, True], [False, False, False]])


def test_compiled_inductor_matches_eager(build: Build) -> None:
    """Inductor codegen (one tiny spatial model, forward only; about 20 s cold on 2 CPU cores)."""
    model = build(mask_missing_keys=True, refine_observed=False, max_tokens=36)  # two chunks of 12 rows
    compiled = torch.compile(model, fullgraph=True)
    maps = torch.randn(4, 3, 8, 2, 3)
    with torch.no_grad():
        torch.testing.assert_close(compiled(maps, PRESENT), model(maps, PRESENT), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spatial_shape", [(), (2, 2, 2)])
def test_compiled_graph_forward_and_backward_match_eager(spatial_shape: tuple[int, ...], build: Build) -> None:
    """The whole forward and backward trace as one graph (aot_eager: tracing without codegen)."""
    model = build(depth=2)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    features = torch.randn(4, 3, 8, *spatial_shape)
    weights = torch.randn_like(features)
    grads = []
    for module in (model, compiled):
        model.zero_grad()
        out = module(features, PRESENT)
        (out * weights).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    torch.testing.assert_close(compiled(features, PRESENT), model(features, PRESENT))
    assert len(grads[0]) == len(grads[1]) == len(list(model.parameters()))
    for eager, traced in zip(*grads, strict=True):
        torch.testing.assert_close(traced, eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spatial_shape", [(), (3, 4)])
@pytest.mark.parametrize("options", [{}, {"mask_missing_keys": True, "norm": "post"}, {"refine_observed": False}])
def test_bf16_autocast_is_close_to_fp32(
    spatial_shape: tuple[int, ...], options: dict[str, object], build: Build
) -> None:
    model = build(depth=2, **options)
    features = torch.randn(4, 3, 8, *spatial_shape)
    with torch.no_grad():
        reference = model(features, PRESENT)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(features, PRESENT)
    assert low.dtype == torch.float32
    assert torch.isfinite(low).all()
    scale = reference.abs().max()
    assert (low - reference).abs().max() <= 0.05 * scale
    assert not torch.equal(low, reference)  # the matmuls did run in bf16
    if options.get("refine_observed") is False:
        assert torch.equal(low[PRESENT], features[PRESENT])


def test_bf16_weights_and_inputs(build: Build) -> None:
    model = build().to(torch.bfloat16)
    features = torch.randn(4, 3, 8, dtype=torch.bfloat16)
    with torch.no_grad():
        out = model(features, PRESENT)
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out).all()
