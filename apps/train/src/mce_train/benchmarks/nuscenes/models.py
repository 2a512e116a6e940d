"""nuScenes: camera (lifted to BEV), LiDAR and radar BEV encoders, per-cell completion, conv segmentation head.

Paper Sec. 4.2: images are encoded by a 2-D backbone and lifted to the 200×8×200 voxel grid as in
Simple-BEV, LiDAR and radar are BEV maps, the three ``Float[N, dim, X, Y]`` feature maps are
completed per BEV cell by the completion module (``h: Float[N, 3, dim, X, Y]``), concatenated and
decoded by two convolutions into vehicle logits ``Float[N, 1, X, Y]``. The unimodal heads
``f_dec^m`` are the same two-convolution head on one modality's map.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from mce_data.nuscenes_grid import BEVGrid
from mce_recon import CompletionTransformer
from mce_train.benchmarks.nuscenes.camera import CameraEncoder, bev_block
from mce_train.network import MultiModalNet

MODALITIES = ("camera", "lidar", "radar")


class LidarEncoder(nn.Module):
    """``Float[N, Z, X, Y]`` occupancy (height bins as channels) ``-> Float[N, dim, X, Y]``."""

    def __init__(self, z_bins: int, dim: int) -> None:
        super().__init__()
        self.z_bins = z_bins
        self.features = bev_block(z_bins, dim)

    def forward(self, lidar: Tensor) -> Tensor:
        if lidar.dim() != 4 or lidar.shape[1] != self.z_bins:
            raise ValueError(f"expected LiDAR occupancy Float[N, {self.z_bins}, X, Y]; got {list(lidar.shape)}")
        return self.features(lidar)  # type: ignore[no-any-return]


class RadarEncoder(nn.Module):
    """``Float[N, 1 + F, X, Y]`` (return count, mean fields) ``-> Float[N, dim, X, Y]``.

    The raw values (counts, RCS in dBsm, velocities in m/s) are squashed by a signed ``log1p`` first.
    """

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        self.channels = channels
        self.features = bev_block(channels, dim)

    def forward(self, radar: Tensor) -> Tensor:
        if radar.dim() != 4 or radar.shape[1] != self.channels:
            raise ValueError(f"expected radar features Float[N, {self.channels}, X, Y]; got {list(radar.shape)}")
        return self.features(torch.sign(radar) * torch.log1p(radar.abs()))  # type: ignore[no-any-return]


class BEVHead(nn.Module):
    """Concatenation fusion and two convolutions: ``Float[N, M, dim, X, Y] -> Float[N, 1, X, Y]`` logits.

    ``Conv3x3(M·dim, hidden) -> BatchNorm -> ReLU -> Conv1x1(hidden, outputs)``. With ``n_modalities=1`` it
    also takes one modality's map ``Float[N, dim, X, Y]`` (a unimodal head).
    """

    def __init__(self, n_modalities: int, dim: int, hidden: int, outputs: int = 1) -> None:
        super().__init__()
        self.n_modalities, self.dim = n_modalities, dim
        self.decoder = nn.Sequential(
            nn.Conv2d(n_modalities * dim, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, outputs, 1),
        )

    def forward(self, h: Tensor) -> Tensor:
        if h.dim() == 4 and self.n_modalities == 1:
            h = h[:, None]
        if h.dim() != 5 or h.shape[1:3] != (self.n_modalities, self.dim):
            raise ValueError(f"expected h Float[N, {self.n_modalities}, {self.dim}, X, Y]; got {list(h.shape)}")
        return self.decoder(rearrange(h, "batch modality channel x y -> batch (modality channel) x y"))  # type: ignore[no-any-return]


def encoders(
    grid: BEVGrid,
    dim: int,
    radar_channels: int,
    *,
    image_channels: int = 32,
    image_backbone: nn.Module | None = None,
) -> dict[str, nn.Module]:
    """One encoder per modality, in :data:`MODALITIES` order (see :class:`CameraEncoder` for ``image_backbone``)."""
    return {
        "camera": CameraEncoder(grid, dim, backbone=image_backbone, backbone_channels=image_channels),
        "lidar": LidarEncoder(grid.z_bins, dim),
        "radar": RadarEncoder(radar_channels, dim),
    }


def head(dim: int, hidden: int) -> nn.Module:
    """Concatenation over the three modalities and two convolutions (Sec. 4.2)."""
    return BEVHead(len(MODALITIES), dim, hidden)


def unimodal_heads(dim: int, hidden: int) -> dict[str, nn.Module]:
    """``f_dec^m``: the same two-convolution head on one modality's BEV map."""
    return {name: BEVHead(1, dim, hidden) for name in MODALITIES}


def network(
    grid: BEVGrid,
    radar_channels: int,
    *,
    dim: int = 64,
    hidden: int = 64,
    image_channels: int = 64,
    image_backbone: nn.Module | None = None,
    completion_depth: int = 1,
    heads: int = 4,
    completion_ffn: int | None = None,
    completion_dropout: float = 0.0,
    max_tokens: int | None = None,
) -> MultiModalNet:
    """The whole nuScenes model: encoders, per-cell :class:`~mce_recon.CompletionTransformer`, heads.

    Args:
        grid: the BEV grid of the data (cell centres are where camera features are sampled).
        radar_channels: ``1 + F`` radar input channels.
        dim: channels of every modality's BEV map (the completion module's token width).
        hidden: channels of the head's hidden convolution.
        image_channels: the image backbone's output channels.
        image_backbone: a pretrained backbone to use instead of the small CNN (interface:
            :class:`~mce_train.benchmarks.nuscenes.camera.CameraEncoder`).
        completion_depth, heads, completion_ffn, completion_dropout: the completion module's blocks, attention
            heads, FFN width (``None``: 4x) and dropout.
        max_tokens: chunk the completion module's attention (caps transient memory on 200×200 maps).
    """
    return MultiModalNet(
        MODALITIES,
        encoders(grid, dim, radar_channels, image_channels=image_channels, image_backbone=image_backbone),
        head(dim, hidden),
        unimodal_heads(dim, hidden),
        CompletionTransformer(
            len(MODALITIES),
            dim,
            depth=completion_depth,
            heads=heads,
            ffn_dim=completion_ffn,
            dropout=completion_dropout,
            max_tokens=max_tokens,
        ),
    )
