"""UniMF's masked transformer, its two attention masks and the vector-to-token view.

Official code (gw-zhong/UniMF): ``modules/transformer.py`` (the translation module's encoder) and
``modules/unimf.py`` (the fusion encoder) are the same fairseq-style pre-norm stack: per layer
``x + drop_res(MHA(LN(x)))`` then ``x + drop_res(fc2(drop_relu(relu(fc1(LN(x))))))`` with ``fc1`` of width
``4·E``, a final LayerNorm, xavier-uniform weights and zero biases. They differ only in the fixed mask
their attention adds (``modules/multihead_attention.py`` and ``modules/masked_multihead_attention.py``):

* :func:`translation_mask`, sequence ``[source blocks..., [Uni]/[Bi] token, target tokens]``: each source
  block attends to itself and to the ``[Uni]/[Bi]`` token only; that token attends to every source token
  and to itself; the target block is causal (each token sees the start token and the tokens before it)
  and sees no source directly.
* :func:`label_mask`, sequence ``[label ([CLS]), modality blocks...]``: the multimodal label attends to
  every modality token but not to itself; each modality block attends to itself and to the label.

Masks are ``Bool[L, L]``, ``True`` where a query (row) may *not* attend to a key (column).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional

RELU_DROPOUT = 0.1
"""gw-zhong/UniMF main.py: ``--relu_dropout 0.1`` (not tuned)."""
RES_DROPOUT = 0.1
"""gw-zhong/UniMF main.py: ``--res_dropout 0.1`` (not tuned)."""


def as_tokens(h: Tensor, tokens: int) -> Tensor:
    """``Float[..., D] -> Float[..., tokens, D / tokens]``: a feature vector read as a short token sequence."""
    if h.shape[-1] % tokens:
        raise ValueError(f"the feature size {h.shape[-1]} must divide into {tokens} tokens")
    return rearrange(h, "... (token chunk) -> ... token chunk", token=tokens)


def as_vector(tokens: Tensor) -> Tensor:
    """``Float[..., T, c] -> Float[..., T·c]``, the inverse of :func:`as_tokens`."""
    return rearrange(tokens, "... token chunk -> ... (token chunk)")


def translation_mask(sources: int, tokens: int, target: int, device: torch.device | None = None) -> Tensor:
    """``Bool[L, L]`` (``L = sources·tokens + target``), blocked pairs of the translation sequence.

    ``target`` counts the target block with its start token (``1`` when generation starts).
    """
    start = sources * tokens
    size = start + target
    block = torch.arange(size, device=device) // tokens  # source block of each position (>= sources: target)
    row, col = block[:, None], block[None, :]
    i, j = torch.arange(size, device=device)[:, None], torch.arange(size, device=device)[None, :]
    in_source = (row < sources) & (((col == row) & (j < start)) | (j == start))
    at_start = (i == start) & (j <= start)
    in_target = (i > start) & (j >= start) & (j <= i)
    return ~(in_source | at_start | in_target)


def label_mask(modalities: int, tokens: int, device: torch.device | None = None) -> Tensor:
    """``Bool[L, L]`` (``L = 1 + modalities·tokens``), blocked pairs of the fusion sequence (label first)."""
    size = 1 + modalities * tokens
    block = (torch.arange(size, device=device) - 1).div(tokens, rounding_mode="floor")  # -1: the label
    row, col = block[:, None], block[None, :]
    label_row = (row == -1) & (col >= 0)
    modality_row = (row >= 0) & ((col == -1) | (col == row))
    return ~(label_row | modality_row)


def _linear(width: int, out: int) -> nn.Linear:
    layer = nn.Linear(width, out)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class _Layer(nn.Module):
    """One pre-norm layer: masked self-attention, then the ``4·E`` ReLU feed-forward block."""

    def __init__(self, dim: int, heads: int, attn_dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=attn_dropout, batch_first=True)
        nn.init.xavier_uniform_(self.attention.out_proj.weight)
        self.norms = nn.ModuleList([nn.LayerNorm(dim), nn.LayerNorm(dim)])
        self.fc1, self.fc2 = _linear(dim, 4 * dim), _linear(4 * dim, dim)

    def forward(self, x: Tensor, mask: Tensor, padding: Tensor | None) -> Tensor:
        y = self.norms[0](x)
        y, _ = self.attention(y, y, y, attn_mask=mask, key_padding_mask=padding, need_weights=False)
        x = x + functional.dropout(y, RES_DROPOUT, self.training)
        y = functional.dropout(functional.relu(self.fc1(self.norms[1](x))), RELU_DROPOUT, self.training)
        return x + functional.dropout(self.fc2(y), RES_DROPOUT, self.training)


class MaskedTransformer(nn.Module):
    """``Float[n, L, E] -> Float[n, L, E]`` under a fixed ``Bool[L, L]`` mask and optional ``Bool[n, L]`` padding.

    Every query must keep at least one key (both of UniMF's masks leave each row its start or label token).
    """

    def __init__(self, dim: int, heads: int, layers: int, attn_dropout: float) -> None:
        super().__init__()
        if layers < 1 or dim % heads:
            raise ValueError(
                f"need layers >= 1 and heads dividing the width; got {layers} layers, {heads} heads, {dim}"
            )
        self.layers = nn.ModuleList(_Layer(dim, heads, attn_dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, mask: Tensor, padding: Tensor | None = None) -> Tensor:
        if padding is not None:  # the same dtype as the mask (torch merges them)
            padding = padding.to(torch.bool)
        for layer in self.layers:
            x = layer(x, mask, padding)
        return self.norm(x)  # type: ignore[no-any-return]
