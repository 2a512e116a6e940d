"""Fusion + decoder heads shared by the vector-feature benchmarks."""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn


class ConcatHead(nn.Module):
    """Concatenation fusion and an MLP decoder: ``Float[N, M, D] -> Float[N, classes]``.

    ``FC(M·D, hidden) -> [BatchNorm] -> ReLU -> [Dropout] -> ... -> FC(hidden, classes)`` with ``depth``
    hidden layers (AVMNIST: one, IEMOCAP: two with batch norm, as in the paper's Sec. 4.2); a dropout layer
    only where ``dropout > 0``.
    """

    def __init__(
        self,
        n_modalities: int,
        dim: int,
        hidden: int,
        n_classes: int,
        *,
        depth: int = 1,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_modalities * dim
        for _ in range(depth):
            layers.append(nn.Linear(width, hidden))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, n_classes))
        self.decoder = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        return self.decoder(rearrange(h, "batch modality dim -> batch (modality dim)"))  # type: ignore[no-any-return]


def mlp_decoder(dim: int, hidden: int, n_classes: int, *, dropout: float = 0.0) -> nn.Module:
    """A unimodal decoder ``f_dec^m``: ``FC(dim, hidden) -> ReLU -> [Dropout] -> FC(hidden, classes)``."""
    middle: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), *middle, nn.Linear(hidden, n_classes))
