"""The pieces of one Eq. 15 block: self-attention across modalities and a two-layer FFN.

All modules take ``Float[R, M, D]``: ``R`` rows (samples, or samples times spatial locations)
of ``M`` modality tokens of width ``D``.

>>> import torch
>>> _ = torch.manual_seed(0)
>>> layer = CompletionLayer(dim=16, heads=4, ffn_dim=32, dropout=0.0, norm="pre")
>>> layer(torch.randn(5, 3, 16)).shape                 # [rows, modality, dim]
torch.Size([5, 3, 16])
"""

from __future__ import annotations

from typing import Literal

from einops import rearrange
from torch import Tensor, nn
from torch.nn.functional import scaled_dot_product_attention

Norm = Literal["pre", "post", "none"]
NORMS: tuple[Norm, ...] = ("pre", "post", "none")


class ModalityAttention(nn.Module):
    """Multi-head self-attention across the modality axis (scaled dot product, fused kernel).

    Args:
        dim: token width ``D``; divisible by ``heads``.
        heads: number of attention heads.
        dropout: dropout on the attention weights (training only).
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, tokens: Tensor, allowed: Tensor | None = None) -> Tensor:
        """Attend across modalities.

        Args:
            tokens: ``Float[R, M, D]``.
            allowed: optional ``Bool[R, 1, M, M]``; ``allowed[r, 0, q, k]`` says query ``q`` may
                attend to key ``k``. ``None``: every token sees every token.

        Returns:
            ``Float[R, M, D]``.
        """
        query, key, value = rearrange(
            self.qkv(tokens),
            "row modality (three heads width) -> three row heads modality width",
            three=3,
            heads=self.heads,
        )
        mixed = scaled_dot_product_attention(
            query, key, value, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )
        out: Tensor = self.out(rearrange(mixed, "row heads modality width -> row modality (heads width)"))
        return out


class FeedForward(nn.Sequential):
    """The two-layer feed-forward network ``Linear -> GELU -> Dropout -> Linear -> Dropout``.

    Args:
        dim: token width ``D``.
        hidden: hidden width.
        dropout: dropout after the activation and after the second projection.
    """

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )


class CompletionLayer(nn.Module):
    """One block of Eq. 15: attention across modalities and an FFN, each with a residual.

    ``norm="pre"`` (the authors' code): ``x + Drop(MHSA(LN(x)))`` then ``x + FFN(LN(x))``.
    ``norm="post"`` (the original Transformer): ``LN(x + Drop(MHSA(x)))`` then ``LN(x + FFN(x))``.
    ``norm="none"``: the residual sums without normalisation.

    Args:
        dim: token width ``D``.
        heads: attention heads; must divide ``dim``.
        ffn_dim: hidden width of the FFN.
        dropout: dropout rate on attention weights, attention output and in the FFN.
        norm: where the LayerNorms sit.
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float, norm: Norm) -> None:
        super().__init__()
        self.norm = norm
        self.attention = ModalityAttention(dim, heads, dropout)
        self.attention_dropout = nn.Dropout(dropout)
        self.feed_forward = FeedForward(dim, ffn_dim, dropout)
        self.norm_attention: nn.Module = nn.LayerNorm(dim) if norm != "none" else nn.Identity()
        self.norm_feed_forward: nn.Module = nn.LayerNorm(dim) if norm != "none" else nn.Identity()

    def forward(self, tokens: Tensor, allowed: Tensor | None = None) -> Tensor:
        """``Float[R, M, D] -> Float[R, M, D]``; ``allowed`` as in :class:`ModalityAttention`."""
        if self.norm == "pre":
            tokens = tokens + self.attention_dropout(self.attention(self.norm_attention(tokens), allowed))
            refined: Tensor = tokens + self.feed_forward(self.norm_feed_forward(tokens))
        else:
            tokens = self.norm_attention(tokens + self.attention_dropout(self.attention(tokens, allowed)))
            refined = self.norm_feed_forward(tokens + self.feed_forward(tokens))
        return refined
