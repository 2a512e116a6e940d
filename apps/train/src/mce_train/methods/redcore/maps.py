"""Per-location reductions that carry RedCore's vector formulas over to feature maps.

RedCore's representations are vectors ``Float[N, D]``; BraTS and nuScenes give maps
``Float[N, C, *space]`` (a bottleneck grid ``g × g × g``, a BEV grid ``X × Y``). Each location of a
map holds one ``C``-dimensional code; a formula RedCore writes over the ``D`` features of a vector
is applied to the ``C`` channels of each location and then **averaged over the locations**. A
vector is the case with no spatial axis, so these functions reduce to the vector formulas exactly.

Why the mean over locations (not the sum): the benchmarks' task losses are means over voxels or
BEV cells (``dice_cross_entropy``, ``bev_bce``), so the KL weight ``γ`` and the regulation's norm
``ξ2`` keep the meaning they have for one vector against one sample's cross-entropy, whatever the
grid (quick or paper size, a training crop or a whole volume). A sum would multiply the KL by the
number of cells (40,000 on nuScenes' 200 × 200 grid) and collapse the maps onto the prior.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor

from mce_losses import gaussian_kl


def channel_last(x: Tensor) -> Tensor:
    """``Float[n, C, *space] -> Float[n, *space, C]`` (a vector ``[n, C]`` is returned as it is)."""
    return rearrange(x, "batch channel ... -> batch ... channel")


def channel_first(x: Tensor) -> Tensor:
    """``Float[n, *space, C] -> Float[n, C, *space]``, the inverse of :func:`channel_last`."""
    return rearrange(x, "batch ... channel -> batch channel ...")


def location_mean(values: Tensor, start: int) -> Tensor:
    """The mean over every axis from ``start`` on (the locations); ``values`` unchanged if there is none."""
    if values.dim() <= start:
        return values
    return values.flatten(start).mean(start)


def location_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(μ, σ²) || N(0, I))`` per sample: summed over the channels of each location, averaged over locations.

    Args:
        mu: ``Float[n, C, *space]`` (or ``Float[n, C]``).
        logvar: ``Float[n, C, *space]``, the same shape.

    Returns:
        ``Float[n]``; for vectors, :func:`mce_losses.gaussian_kl` itself.

    Example:
        >>> import torch
        >>> mu = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]])  # one sample, C = 2 channels, 2 locations
        >>> location_kl(mu, torch.zeros(1, 2, 2)).tolist()  # (0.5 + 2.0) / 2
        [1.25]
    """
    return location_mean(gaussian_kl(channel_last(mu), channel_last(logvar)), 1)


def location_squared_error(a: Tensor, b: Tensor) -> Tensor:
    """``||a - b||²`` over the channels of each location, averaged over locations.

    Args:
        a: ``Float[N, M, C, *space]`` (or ``Float[N, M, C]``).
        b: the same shape.

    Returns:
        ``Float[N, M]``: the squared Euclidean distance of the vector case, per sample and modality.

    Example:
        >>> import torch
        >>> a = torch.tensor([[[[3.0, 1.0]]]])  # N = M = C = 1, two locations
        >>> location_squared_error(a, torch.zeros(1, 1, 1, 2)).tolist()  # (9 + 1) / 2
        [[5.0]]
    """
    if a.shape != b.shape or a.dim() < 3:
        raise ValueError(f"a and b must share a shape [N, M, C, *space]; got {list(a.shape)} and {list(b.shape)}")
    return location_mean((a - b).pow(2).sum(2), 2)
