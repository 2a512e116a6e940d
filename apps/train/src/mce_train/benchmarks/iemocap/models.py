"""IEMOCAP: LSTM + max-pool over time (acoustic, visual), TextCNN (lexical), 128-d each; FC decoder with BN.

Inputs are MMIN's features: acoustic ComParE ``[T, 130]``, visual DenseFace ``[T, 342]``, lexical
BERT-large ``[T, 1024]``, padded per batch; ``lengths`` marks the valid frames.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from mce_train.benchmarks.heads import ConcatHead, mlp_decoder

MODALITIES = ("acoustic", "visual", "lexical")
N_CLASSES = 4
FEATURE_DIMS = {"acoustic": 130, "visual": 342, "lexical": 1024}


def _valid(x: Tensor, lengths: Tensor | None) -> Tensor:
    """``Bool[N, T]``: the frames inside each sequence's length (all frames without lengths)."""
    steps = torch.arange(x.shape[1], device=x.device)
    if lengths is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    return steps[None, :] < lengths.to(x.device)[:, None]


def _max_over_time(x: Tensor, valid: Tensor) -> Tensor:
    """Max over the valid frames of ``Float[N, T, D]``; a sequence with no frame gives zeros."""
    masked = x.masked_fill(~valid[..., None], float("-inf")).amax(1)
    return torch.where(valid.any(1, keepdim=True), masked, torch.zeros_like(masked))


class LSTMEncoder(nn.Module):
    """``Float[N, T, features] -> Float[N, dim]``: an LSTM, then max-pooling over the valid frames."""

    takes_lengths = True

    def __init__(self, features: int, dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, dim, batch_first=True)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, _ = self.lstm(x)
        return _max_over_time(out, _valid(x, lengths))


class TextCNN(nn.Module):
    """``Float[N, T, features] -> Float[N, dim]``: 1-D convolutions of widths 3, 4, 5, max over time, FC."""

    takes_lengths = True

    def __init__(self, features: int, dim: int, channels: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(features, channels, width, padding=width // 2) for width in (3, 4, 5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()  # MMIN's TextCNN: before the FC
        self.project = nn.Linear(3 * channels, dim)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        valid = _valid(x, lengths)
        zeroed = x.masked_fill(~valid[..., None], 0.0)  # padding must look like the convolution's own zeros
        sequence = rearrange(zeroed, "batch time feature -> batch feature time")
        pooled = []
        for conv in self.convs:
            out = rearrange(torch.relu(conv(sequence)), "batch channel time -> batch time channel")[:, : x.shape[1]]
            pooled.append(_max_over_time(out, valid))
        return self.project(self.dropout(torch.cat(pooled, 1)))  # type: ignore[no-any-return]


def encoders(dim: int, feature_dims: dict[str, int] | None = None, text_dropout: float = 0.0) -> dict[str, nn.Module]:
    """One encoder per modality, in :data:`MODALITIES` order (feature sizes default to MMIN's)."""
    sizes = feature_dims or FEATURE_DIMS
    return {
        "acoustic": LSTMEncoder(sizes["acoustic"], dim),
        "visual": LSTMEncoder(sizes["visual"], dim),
        "lexical": TextCNN(sizes["lexical"], dim, dropout=text_dropout),
    }


def head(dim: int, hidden: int, dropout: float = 0.0) -> nn.Module:
    """Concatenation, then two FC layers with batch norm, ReLU [and dropout], then the classifier (Sec. 4.2)."""
    return ConcatHead(len(MODALITIES), dim, hidden, N_CLASSES, depth=2, batch_norm=True, dropout=dropout)


def unimodal_heads(dim: int, hidden: int, dropout: float = 0.0) -> dict[str, nn.Module]:
    """``f_dec^m`` per modality."""
    return {name: mlp_decoder(dim, hidden, N_CLASSES, dropout=dropout) for name in MODALITIES}
