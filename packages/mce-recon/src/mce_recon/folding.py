"""Fold the spatial axes of per-modality feature maps into the batch, and back.

Attention runs across modalities at each location independently, so a stack of feature maps
``Float[B, M, C, *spatial]`` becomes ``B * prod(spatial)`` rows of ``M`` tokens of width ``C``.
The axis names in the einops patterns are whole words: ``length`` (1-D), ``height width``
(2-D, a BEV grid), ``depth height width`` (3-D, a brain volume), ``axis0 axis1 ...`` beyond.

>>> import torch
>>> maps = torch.randn(2, 3, 8, 4, 5)                  # [batch, modality, channel, height, width]
>>> rows = fold_locations(maps)
>>> rows.shape                                         # [(batch height width), modality, channel]
torch.Size([40, 3, 8])
>>> torch.equal(unfold_locations(rows, (4, 5)), maps)
True
"""

from __future__ import annotations

from collections.abc import Sequence

from einops import rearrange, repeat
from torch import Tensor

_NAMES = {1: "length", 2: "height width", 3: "depth height width"}


def spatial_axes(n_spatial: int) -> str:
    """The einops axis names of ``n_spatial`` spatial axes, e.g. ``'height width'`` for 2."""
    return _NAMES.get(n_spatial, " ".join(f"axis{i}" for i in range(n_spatial)))


def fold_locations(features: Tensor) -> Tensor:
    """Fold the spatial axes into the batch.

    Args:
        features: ``Float[B, M, C, *spatial]``, one or more spatial axes.

    Returns:
        ``Float[B * prod(spatial), M, C]``, batch-major: row ``b * L + l`` is location ``l``
        (row-major over the spatial axes) of sample ``b``.
    """
    axes = spatial_axes(features.ndim - 3)
    return rearrange(features, f"batch modality channel {axes} -> (batch {axes}) modality channel")


def unfold_locations(rows: Tensor, spatial_shape: Sequence[int]) -> Tensor:
    """Inverse of :func:`fold_locations`.

    Args:
        rows: ``Float[B * prod(spatial), M, C]``.
        spatial_shape: the spatial sizes ``(*spatial)`` of the maps that were folded.

    Returns:
        ``Float[B, M, C, *spatial]``.
    """
    axes = spatial_axes(len(spatial_shape))
    sizes = dict(zip(axes.split(), (int(size) for size in spatial_shape), strict=True))
    return rearrange(rows, f"(batch {axes}) modality channel -> batch modality channel {axes}", **sizes)


def repeat_per_location(present: Tensor, n_locations: int) -> Tensor:
    """``Bool[B, M] -> Bool[B * L, M]``: each sample's mask once per folded location."""
    return repeat(present, "batch modality -> (batch locations) modality", locations=n_locations)
