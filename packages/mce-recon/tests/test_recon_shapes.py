"""Shapes, dtypes, defaults and reproducibility."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from mce_recon import CompletionTransformer, fold_locations, unfold_locations

Build = Callable[..., CompletionTransformer]


@pytest.mark.parametrize("shape", [(5, 3, 8), (5, 3, 8, 7), (2, 3, 8, 4, 6), (2, 3, 8, 3, 4, 5), (1, 3, 8, 2, 1, 2, 3)])
def test_output_has_the_input_shape_and_dtype(shape: tuple[int, ...], build: Build) -> None:
    model = build()
    features = torch.randn(*shape)
    present = torch.rand(shape[0], 3) < 0.5
    out = model(features, present)
    assert out.shape == features.shape
    assert out.dtype == features.dtype


def test_fold_round_trip_and_row_order() -> None:
    maps = torch.arange(2 * 3 * 4 * 5 * 6, dtype=torch.float32).reshape(2, 3, 4, 5, 6)
    rows = fold_locations(maps)
    assert rows.shape == (2 * 5 * 6, 3, 4)
    # row b * L + l is location l (row-major) of sample b
    assert torch.equal(rows[1 * 30 + 2 * 6 + 4], maps[1, :, :, 2, 4])
    assert torch.equal(unfold_locations(rows, (5, 6)), maps)


def test_defaults_and_parameter_count() -> None:
    model = CompletionTransformer(4, 16)
    assert (model.depth, model.heads, model.ffn_dim, model.dropout) == (1, 4, 64, 0.0)
    assert model.refine_observed
    assert not model.mask_missing_keys
    assert model.norm == "pre"
    dim, hidden = 16, 64
    per_layer = (dim * 3 * dim + 3 * dim) + (dim * dim + dim) + (dim * hidden + hidden) + (hidden * dim + dim) + 4 * dim
    assert sum(p.numel() for p in model.parameters()) == 4 * dim + per_layer
    assert CompletionTransformer(4, 16, depth=3, ffn_dim=8).ffn_dim == 8
    assert len(CompletionTransformer(4, 16, depth=3).layers) == 3


def test_same_seed_same_model_and_same_dropout() -> None:
    features = torch.randn(6, 3, 8)
    present = torch.rand(6, 3) < 0.5
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = CompletionTransformer(3, 8, heads=2, dropout=0.3).train()
        outs.append(model(features, present))
    assert torch.equal(outs[0], outs[1])
    torch.manual_seed(8)
    assert not torch.equal(model(features, present), outs[0])  # dropout is live in training
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(features, present), model(features, present))
