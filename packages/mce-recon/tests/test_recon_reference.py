"""The module equals Eq. 15 written out per sample, and its spatial path equals the vector path per location."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from mce_recon import CompletionTransformer

Reference = Callable[[CompletionTransformer, Tensor, Tensor], Tensor]
Build = Callable[..., CompletionTransformer]

CONFIGS = [
    {},
    {"norm": "post"},
    {"norm": "none"},
    {"depth": 2},
    {"depth": 2, "embed_every_layer": False},
    {"mask_missing_keys": True, "depth": 2},
    {"refine_observed": False},
    {"heads": 4, "ffn_dim": 5},
]


def _inputs(batch: int = 6, n_modalities: int = 3, dim: int = 8, seed: int = 1) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, n_modalities, dim, generator=generator, dtype=torch.float64)
    # every availability pattern of 3 modalities, the empty one included
    patterns = torch.tensor(list(itertools.product([False, True], repeat=n_modalities)))
    present = patterns[torch.arange(batch) % len(patterns)]
    return features, present


@pytest.mark.parametrize("options", CONFIGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_matches_per_sample_reference(options: dict[str, object], build: Build, reference: Reference) -> None:
    model = build(**options).double()
    features, present = _inputs(batch=8)
    with torch.no_grad():
        expected = reference(model, features, present)
        got = model(features, present)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("spatial_shape", [(5,), (3, 4), (2, 3, 2)])
@pytest.mark.parametrize("mask_missing_keys", [False, True])
def test_spatial_path_is_the_vector_path_at_each_location(
    spatial_shape: tuple[int, ...], mask_missing_keys: bool, build: Build
) -> None:
    model = build(mask_missing_keys=mask_missing_keys).double()
    generator = torch.Generator().manual_seed(2)
    maps = torch.randn(4, 3, 8, *spatial_shape, generator=generator, dtype=torch.float64)
    present = torch.tensor([[True, False, True], [False, False, True], [True, True, True], [False, False, False]])
    with torch.no_grad():
        out = model(maps, present)
        assert out.shape == maps.shape
        for location in itertools.product(*(range(size) for size in spatial_shape)):
            index: tuple[slice | int, ...] = (slice(None), slice(None), slice(None), *location)
            torch.testing.assert_close(out[index], model(maps[index], present), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("max_tokens", [1, 3, 7, 12, 10_000])
def test_chunking_does_not_change_the_result(max_tokens: int, build: Build) -> None:
    whole = build(mask_missing_keys=True)
    chunked = build(mask_missing_keys=True, max_tokens=max_tokens)
    maps = torch.randn(3, 3, 8, 4, 5)
    present = torch.rand(3, 3) < 0.5
    with torch.no_grad():
        torch.testing.assert_close(chunked(maps, present), whole(maps, present), rtol=1e-5, atol=1e-6)


def test_permuting_the_batch_permutes_the_output(build: Build) -> None:
    model = build(depth=2, mask_missing_keys=True)
    features, present = _inputs(batch=8)
    features = features.float()
    order = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model(features[order], present[order]), model(features, present)[order])
        maps = torch.randn(8, 3, 8, 2, 3)
        torch.testing.assert_close(model(maps[order], present[order]), model(maps, present)[order])


def test_sample_with_no_observed_modality_gets_the_mask_token_completion(build: Build) -> None:
    """With every slot missing the output depends on the learned embedding alone."""
    model = build()
    features = torch.randn(4, 3, 8)
    present = torch.zeros(4, 3, dtype=torch.bool)
    with torch.no_grad():
        out = model(features, present)
        torch.testing.assert_close(out, out[:1].expand_as(out))
        model.modality_embedding.add_(1.0)
        assert not torch.allclose(model(features, present), out)
