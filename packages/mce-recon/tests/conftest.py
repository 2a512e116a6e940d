"""Independent references for the tests: Eq. 15 written out per sample with plain tensor algebra."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from mce_recon import CompletionLayer, CompletionTransformer

Reference = Callable[[CompletionTransformer, Tensor, Tensor], Tensor]
Build = Callable[..., CompletionTransformer]


def _linear(x: Tensor, layer: torch.nn.Module) -> Tensor:
    weight, bias = layer.weight, layer.bias
    assert isinstance(weight, Tensor)
    assert isinstance(bias, Tensor)
    return x @ weight.T + bias


def _layer_norm(x: Tensor, norm: torch.nn.Module) -> Tensor:
    weight, bias = norm.weight, norm.bias
    assert isinstance(weight, Tensor)
    assert isinstance(bias, Tensor)
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * weight + bias


def _attention(x: Tensor, layer: CompletionLayer, keys_seen: Tensor) -> Tensor:
    """Heads as contiguous blocks of q, k, v; explicit softmax. x: [M, D]; keys_seen: Bool[M, M]."""
    attn = layer.attention
    dim = x.shape[1]
    width = dim // attn.heads
    qkv = _linear(x, attn.qkv)
    q, k, v = qkv[:, :dim], qkv[:, dim : 2 * dim], qkv[:, 2 * dim :]
    heads = []
    for h in range(attn.heads):
        cols = slice(h * width, (h + 1) * width)
        scores = q[:, cols] @ k[:, cols].T / math.sqrt(width)
        scores = scores.masked_fill(~keys_seen, float("-inf"))
        heads.append(torch.softmax(scores, dim=-1) @ v[:, cols])
    return _linear(torch.cat(heads, dim=-1), attn.out)


def _ffn(x: Tensor, layer: CompletionLayer) -> Tensor:
    first, second = layer.feed_forward[0], layer.feed_forward[3]
    return _linear(torch.nn.functional.gelu(_linear(x, first)), second)


def _reference_one(model: CompletionTransformer, tokens: Tensor, present: Tensor) -> Tensor:
    """Eq. 15 for one sample: tokens Float[M, D], present Bool[M]."""
    n_modalities = tokens.shape[0]
    h = torch.where(present[:, None], tokens, torch.zeros_like(tokens))
    if model.mask_missing_keys:
        keys_seen = present[None, :] | torch.eye(n_modalities, dtype=torch.bool)
    else:
        keys_seen = torch.ones(n_modalities, n_modalities, dtype=torch.bool)
    for index, module in enumerate(model.layers):
        assert isinstance(module, CompletionLayer)
        if index == 0 or model.embed_every_layer:
            h = h + model.modality_embedding[0]
        if model.norm == "pre":
            h = h + _attention(_layer_norm(h, module.norm_attention), module, keys_seen)
            h = h + _ffn(_layer_norm(h, module.norm_feed_forward), module)
        elif model.norm == "post":
            h = _layer_norm(h + _attention(h, module, keys_seen), module.norm_attention)
            h = _layer_norm(h + _ffn(h, module), module.norm_feed_forward)
        else:
            h = h + _attention(h, module, keys_seen)
            h = h + _ffn(h, module)
    if not model.refine_observed:
        h = torch.where(present[:, None], tokens, h)
    return h


def _reference(model: CompletionTransformer, features: Tensor, present: Tensor) -> Tensor:
    """The module's output for vector features Float[B, M, D], one sample at a time."""
    return torch.stack([_reference_one(model, features[b], present[b]) for b in range(features.shape[0])])


def _build(n_modalities: int = 3, dim: int = 8, *, seed: int = 0, **options: object) -> CompletionTransformer:
    """A small model with seeded weights, LayerNorm affine parameters randomised too."""
    torch.manual_seed(seed)
    options.setdefault("heads", 2)
    model = CompletionTransformer(n_modalities, dim, **options)  # type: ignore[arg-type]
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
        model.modality_embedding.normal_()
    return model.eval()


@pytest.fixture(scope="session")
def reference() -> Reference:
    return _reference


@pytest.fixture(scope="session")
def build() -> Build:
    return _build
