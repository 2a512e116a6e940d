"""RedCore's building blocks: variational self-modal encoders and residual cross-modal encoders.

* :class:`VariationalEncoder` wraps any feature encoder (a benchmark's own LeNet5/MFCC CNN, U-Net or
  BEV encoder, or the :class:`SequenceTransformer` below) with a :class:`mce_losses.GaussianHead`
  applied at each location of its output (a ``1 × 1`` convolution on maps); it returns ``μ``, the
  channels that pass through and ``log σ²`` packed along the channel axis, so that
  :meth:`MultiModalNet.encode` (present rows only, zeros elsewhere) can run it unchanged.
* :class:`SequenceTransformer` is the paper's self-modal encoder for feature sequences (3 layers,
  8 heads, 128-d), pooled over the valid frames only (``lengths``).
* :class:`ResidualCrossEncoder` is the cross-modal encoder ``θ_xenc^m``: a stack of residual
  autoencoder blocks (paper: 5 blocks, layers 256-128-64-32-64-128-256 for two 128-d inputs) and a
  transition MLP producing the ``D``-d representation of the target modality (on the last axis, so
  at each location of a channel-last map).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mce_losses import GaussianHead
from mce_train.methods.redcore.maps import channel_first, channel_last


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")


class VariationalEncoder(nn.Module):
    """``backbone`` then a per-location Gaussian head on its first ``width`` channels.

    ``input[n, ...] -> Float[n, dim + extra + dim, *space]``: ``μ`` (``dim`` channels), the backbone's
    ``extra`` channels after the first ``width`` as they are (BraTS: the flags and the folded U-Net
    skips packed beside the bottleneck), then ``log σ²``. For a vector backbone (``Float[n, width]``,
    no ``extra``) that is ``Float[n, 2·dim]``, ``μ`` then ``log σ²``.

    Args:
        backbone: maps a modality's input to ``Float[n, width + extra, *space]``; its ``takes_lengths`` /
            ``takes_extras`` flags are forwarded, so the network hands it the same keyword arguments.
        width: the backbone's channels the Gaussian head reads.
        dim: ``D`` (or ``C``), the representation's channels.
        extra: the backbone's channels after ``width`` that bypass the head.
    """

    def __init__(self, backbone: nn.Module, width: int, dim: int, *, extra: int = 0) -> None:
        super().__init__()
        _check_positive(width=width, dim=dim)
        if isinstance(extra, bool) or not isinstance(extra, int) or extra < 0:
            raise ValueError(f"extra must be an int >= 0; got {extra!r}")
        self.backbone = backbone
        self.gaussian = GaussianHead(width, dim)
        self.width, self.dim, self.extra = width, dim, extra
        self.takes_lengths = bool(getattr(backbone, "takes_lengths", False))
        self.takes_extras = bool(getattr(backbone, "takes_extras", False))

    def forward(self, x: Tensor, **kwargs: object) -> Tensor:
        features = self.backbone(x, **kwargs)
        if features.dim() < 2 or features.shape[1] != self.width + self.extra:
            raise ValueError(
                f"the backbone must give [n, {self.width + self.extra}, ...] features; got {list(features.shape)}"
            )
        mu, logvar = self.gaussian(channel_last(features[:, : self.width]))
        return torch.cat([channel_first(mu), features[:, self.width :], channel_first(logvar)], dim=1)


class SequenceTransformer(nn.Module):
    """Transformer encoder over a feature sequence, mean-pooled over the valid frames.

    ``Float[n, time, features] -> Float[n, dim]``. Padded frames (``t >= lengths[i]``) are masked
    out of the attention keys and out of the pooling, so padding never changes the output. A row
    with no valid frame (never produced by the collate for a present modality) attends to its
    first frame only instead of producing NaN.

    Args:
        features: input feature size per frame.
        dim: model width (paper: 128).
        layers: self-attention layers (paper: 3).
        heads: attention heads per layer (paper: 8).
        dropout: dropout inside the layers.
    """

    takes_lengths = True

    def __init__(self, features: int, dim: int = 128, layers: int = 3, heads: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        _check_positive(features=features, dim=dim, layers=layers, heads=heads)
        if dim % heads:
            raise ValueError(f"dim must divide by heads; got dim {dim} and heads {heads}")
        self.features = features
        self.project = nn.Linear(features, dim)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=4 * dim, dropout=dropout, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.features:
            raise ValueError(f"x must have shape [n, time, {self.features}]; got shape {list(x.shape)}")
        if x.shape[0] == 0:  # no sample of the batch has this modality (attention cannot take an empty batch)
            return self.project(x[:, 0])  # type: ignore[no-any-return]
        steps = torch.arange(x.shape[1], device=x.device)
        if lengths is None:
            valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        else:
            valid = steps[None, :] < lengths.to(x.device)[:, None]
        valid[:, 0] |= ~valid.any(1)
        x = x.masked_fill(~valid[..., None], 0.0)  # padding (even NaN) must not reach the attention values
        hidden = self.blocks(self.project(x), src_key_padding_mask=~valid)
        hidden = self.norm(hidden).masked_fill(~valid[..., None], 0.0)
        pooled: Tensor = hidden.sum(1) / valid.sum(1, keepdim=True).to(hidden.dtype)
        return pooled


class _ResidualBlock(nn.Module):
    """One autoencoder ``width -> layers[0] -> ... -> layers[-1] -> ... -> layers[0] -> width``."""

    def __init__(self, width: int, layers: tuple[int, ...]) -> None:
        super().__init__()
        encoder: list[nn.Module] = []
        size = width
        for i, out in enumerate(layers):
            encoder.append(nn.Linear(size, out))
            if i < len(layers) - 1:
                encoder.append(nn.LeakyReLU())
            size = out
        decoder: list[nn.Module] = []
        for out in (*reversed(layers[:-1]), width):
            decoder += [nn.Linear(size, out), nn.ReLU()]
            size = out
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder[:-1])  # no activation after the last layer

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))  # type: ignore[no-any-return]


class ResidualCrossEncoder(nn.Module):
    """Cross-modal encoder ``g(·; θ_xenc^m)``: ``Float[n, in_dim] -> Float[n, out_dim]``.

    A cascade of residual autoencoder blocks (block ``b`` sees the input plus everything the blocks
    before it added: ``x_{b+1} = x_b + AE_b(x_b)``), then a transition MLP
    ``Linear(in, in) -> ReLU -> Linear(in, out)`` on the last sum.

    Args:
        in_dim: the concatenated representations of the other modalities, ``(M - 1)·D``.
        out_dim: ``D``.
        layers: the encoder half of one block (paper: 128, 64, 32, i.e. 256-128-64-32-64-128-256).
        blocks: the number of blocks (paper: 5).
    """

    def __init__(self, in_dim: int, out_dim: int, layers: tuple[int, ...] = (128, 64, 32), blocks: int = 5) -> None:
        super().__init__()
        _check_positive(
            in_dim=in_dim, out_dim=out_dim, blocks=blocks, **{f"layers[{i}]": v for i, v in enumerate(layers)}
        )
        if not layers:
            raise ValueError("layers must name at least one hidden size; got ()")
        self.in_dim = in_dim
        self.blocks = nn.ModuleList(_ResidualBlock(in_dim, tuple(layers)) for _ in range(blocks))
        self.transition = nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(), nn.Linear(in_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"x must have shape [..., {self.in_dim}]; got shape {list(x.shape)}")
        for block in self.blocks:
            x = x + block(x)
        return self.transition(x)  # type: ignore[no-any-return]
