"""Bad arguments raise errors that say what was expected and what was received."""

from __future__ import annotations

import re

import pytest
import torch

from mce_recon import CompletionTransformer


@pytest.fixture
def model() -> CompletionTransformer:
    torch.manual_seed(0)
    return CompletionTransformer(3, 8, heads=2)


def test_wrong_modality_count(model: CompletionTransformer) -> None:
    with pytest.raises(ValueError, match=r"3 modalities along dimension 1; got 4"):
        model(torch.randn(2, 4, 8), torch.ones(2, 4, dtype=torch.bool))


def test_wrong_dim(model: CompletionTransformer) -> None:
    with pytest.raises(ValueError, match=r"dim 8 along dimension 2.*got 6"):
        model(torch.randn(2, 3, 6), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"dim 8 along dimension 2.*got 5 \(shape \[2, 3, 5, 4, 4\]\)"):
        model(torch.randn(2, 3, 5, 4, 4), torch.ones(2, 3, dtype=torch.bool))


def test_present_shape_mismatch(model: CompletionTransformer) -> None:
    expected = re.escape("present must have shape [2, 3] [batch, modality] to match features [2, 3, 8]; got [3, 3]")
    with pytest.raises(ValueError, match=expected):
        model(torch.randn(2, 3, 8), torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=re.escape("got [2, 3, 1]")):
        model(torch.randn(2, 3, 8), torch.ones(2, 3, 1, dtype=torch.bool))


def test_present_must_be_bool(model: CompletionTransformer) -> None:
    with pytest.raises(TypeError, match=r"bool tensor \[batch, modality\]; got dtype torch.int64"):
        model(torch.randn(2, 3, 8), torch.ones(2, 3, dtype=torch.long))


def test_features_must_be_floating_and_batched(model: CompletionTransformer) -> None:
    with pytest.raises(ValueError, match=r"got 2 dimensions, shape \[3, 8\]"):
        model(torch.randn(3, 8), torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"floating point; got dtype torch.int64"):
        model(torch.ones(2, 3, 8, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"torch.Tensor; got list"):
        model([[0.0]], torch.ones(2, 3, dtype=torch.bool))


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"heads": 3}, ValueError, r"heads must divide dim; got dim=8, heads=3"),
        ({"depth": 0}, ValueError, r"depth must be >= 1; got 0"),
        ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\); got 1.0"),
        ({"norm": "sandwich"}, ValueError, r"norm must be one of \['pre', 'post', 'none'\]; got 'sandwich'"),
        ({"ffn_dim": 2.5}, TypeError, r"ffn_dim must be an int; got float 2.5"),
        ({"max_tokens": 0}, ValueError, r"max_tokens must be >= 1; got 0"),
    ],
)
def test_bad_constructor_arguments(options: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        CompletionTransformer(3, 8, **options)  # type: ignore[arg-type]
