"""nuScenes camera branch: a per-image CNN shared by the six cameras, lifted to the BEV grid as in Simple-BEV.

Simple-BEV (Harley et al. 2023, the paper's [33]) lifts image features without predicting depth: every
voxel centre of the BEV volume is projected into every camera with the pinhole model, the camera's
feature map is bilinearly sampled there, and the samples are averaged over the cameras that see the
voxel. The height bins are then kept as channels (``C * Z``) and reduced by convolutions to a BEV map.

Frames (:mod:`mce_data.nuscenes_grid`): the grid lives in the ego frame (x forward, y left, z up);
``cam_to_ego: Float[4, 4]`` maps camera coordinates (x right, y down, z forward) to the ego frame;
``intrinsics: Float[3, 3]`` maps camera coordinates to pixels of the image as given (``u`` along the
width, pixel ``i`` spanning ``[i, i + 1)``). A voxel centre ``p`` lands at
``(u, v, 1) ~ K · R^T (p - t)`` and is seen when its depth is positive and ``0 <= u < W, 0 <= v < H``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional

from mce_data.nuscenes_grid import BEVGrid

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def voxel_centres(grid: BEVGrid, device: torch.device | None = None) -> Tensor:
    """``Float[Z, X, Y, 3]``: the ego-frame centre ``(x, y, z)`` of every voxel, indexed like LiDAR occupancy."""
    nx, ny = grid.shape
    x = grid.x_bounds[0] + (torch.arange(nx, device=device, dtype=torch.float64) + 0.5) * grid.cell
    y = grid.y_bounds[0] + (torch.arange(ny, device=device, dtype=torch.float64) + 0.5) * grid.cell
    z = grid.z_bounds[0] + (torch.arange(grid.z_bins, device=device, dtype=torch.float64) + 0.5) * grid.z_step
    zz, xx, yy = torch.meshgrid(z, x, y, indexing="ij")
    return torch.stack([xx, yy, zz], dim=-1).float()


def project_voxels(
    grid: BEVGrid, intrinsics: Tensor, cam_to_ego: Tensor, image_size: tuple[int, int], min_depth: float = 0.1
) -> tuple[Tensor, Tensor]:
    """Pixel coordinates of every voxel centre in every camera, and whether the camera sees it.

    Args:
        grid: the BEV grid.
        intrinsics: ``Float[N, K, 3, 3]`` per sample and camera.
        cam_to_ego: ``Float[N, K, 4, 4]`` rigid camera-to-ego transforms.
        image_size: ``(H, W)`` of the images the intrinsics refer to.
        min_depth: voxels closer than this (metres along the optical axis) are not seen.

    Returns:
        ``uv: Float[N, K, Q, 2]`` pixel coordinates ``(u, v)`` with ``Q = Z * X * Y`` in voxel order, and
        ``seen: Bool[N, K, Q]``.
    """
    if (
        intrinsics.shape[-2:] != (3, 3)
        or cam_to_ego.shape[-2:] != (4, 4)
        or intrinsics.shape[:2] != cam_to_ego.shape[:2]
    ):
        raise ValueError(
            f"expected intrinsics [N, K, 3, 3] and cam_to_ego [N, K, 4, 4]; "
            f"got {list(intrinsics.shape)} and {list(cam_to_ego.shape)}"
        )
    points = voxel_centres(grid, intrinsics.device).reshape(-1, 3)  # Float[Q, 3]
    rotation, translation = cam_to_ego[..., :3, :3], cam_to_ego[..., :3, 3]
    # camera = R^T (p - t), for every camera: Float[N, K, Q, 3]
    camera = torch.einsum("nkji,nkqj->nkqi", rotation, points[None, None] - translation[:, :, None, :])
    depth = camera[..., 2]
    seen = depth > min_depth
    pixels = torch.einsum("nkij,nkqj->nkqi", intrinsics, camera)
    uv = pixels[..., :2] / torch.where(seen, depth, torch.ones_like(depth))[..., None]
    height, width = image_size
    u, v = uv[..., 0], uv[..., 1]
    seen = seen & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    return uv, seen


def lift_to_bev(
    features: Tensor,
    intrinsics: Tensor,
    cam_to_ego: Tensor,
    camera_present: Tensor,
    image_size: tuple[int, int],
    grid: BEVGrid,
    *,
    mode: str = "bilinear",
    min_depth: float = 0.1,
) -> Tensor:
    """Simple-BEV lifting: ``Float[N, K, C, h, w]`` image features -> ``Float[N, C, Z, X, Y]`` voxel features.

    Each voxel holds the mean of the features sampled (``mode``: ``"bilinear"`` or ``"nearest"``, as
    :func:`torch.nn.functional.grid_sample` with ``align_corners=False``, so the feature map may have
    any stride as long as it covers the whole image) at its projection in the cameras that are
    present and see it; 0 where none does. Absent cameras never contribute, whatever their images
    or calibration hold.

    Args:
        features: ``Float[N, K, C, h, w]``, one feature map per camera.
        intrinsics: ``Float[N, K, 3, 3]`` for images of ``image_size``.
        cam_to_ego: ``Float[N, K, 4, 4]``.
        camera_present: ``Bool[N, K]``.
        image_size: ``(H, W)`` of the input images.
        grid: the BEV grid.
        mode: the sampling kernel.
        min_depth: see :func:`project_voxels`.
    """
    if features.dim() != 5 or camera_present.shape != features.shape[:2]:
        raise ValueError(
            f"expected features [N, K, C, h, w] and camera_present [N, K]; "
            f"got {list(features.shape)} and {list(camera_present.shape)}"
        )
    present = camera_present.bool()
    eye = torch.eye(4, dtype=cam_to_ego.dtype, device=cam_to_ego.device)
    safe_pose = torch.where(present[..., None, None], cam_to_ego, eye)  # absent cameras' calibration is ignored
    eye3 = torch.eye(3, dtype=intrinsics.dtype, device=intrinsics.device)
    safe_k = torch.where(present[..., None, None], intrinsics, eye3)
    uv, seen = project_voxels(grid, safe_k.float(), safe_pose.float(), image_size, min_depth)
    seen = seen & present[..., None]
    height, width = image_size
    normalised = torch.stack([2 * uv[..., 0] / width - 1, 2 * uv[..., 1] / height - 1], dim=-1)
    normalised = torch.where(seen[..., None], normalised, torch.full_like(normalised, -2.0))
    n, k, c = features.shape[:3]
    sampled = functional.grid_sample(
        rearrange(features, "batch camera channel height width -> (batch camera) channel height width"),
        rearrange(normalised, "batch camera point uv -> (batch camera) 1 point uv").to(features.dtype),
        mode=mode,
        padding_mode="zeros",
        align_corners=False,
    )  # Float[N*K, C, 1, Q]
    sampled = rearrange(sampled, "(batch camera) channel 1 point -> batch camera channel point", camera=k)
    weight = seen[:, :, None, :]
    total = torch.where(weight, sampled, torch.zeros_like(sampled)).sum(1)  # Float[N, C, Q]
    count = seen.sum(1, keepdim=True).clamp_min(1).to(features.dtype)  # Float[N, 1, Q]
    nx, ny = grid.shape
    return (total / count).reshape(n, c, grid.z_bins, nx, ny)


class SmallImageEncoder(nn.Module):
    """A small trainable CNN, ``Float[B, 3, H, W] -> Float[B, channels, H/4, W/4]`` (no pretrained weights).

    Stands in for Simple-BEV's pretrained EfficientNet / ResNet; see :class:`CameraEncoder` for the
    interface a pretrained backbone must offer.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.out_channels = channels
        width = max(8, channels // 2)
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, image: Tensor) -> Tensor:
        return self.features(image)  # type: ignore[no-any-return]


def bev_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions with batch norm and ReLU, keeping the BEV resolution."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class CameraEncoder(nn.Module):
    """Six cameras -> BEV features: ``Float[N, K, 3, H, W]`` (+ extras) ``-> Float[N, dim, X, Y]``.

    The backbone runs on the present cameras only (absent ones are zero images and stay out of batch
    norm statistics), its features are lifted with :func:`lift_to_bev`, the height bins are folded
    into channels and two 3x3 convolutions reduce ``C * Z`` channels to ``dim``.

    Args:
        grid: the BEV grid of the benchmark's tensors.
        dim: output channels.
        backbone: any module ``Float[B, 3, H, W] -> Float[B, backbone_channels, h, w]`` whose feature map
            covers the whole image (any stride, e.g. 4 or 8). It receives images in ``[0, 1]``
            normalised with the ImageNet mean and std when ``normalize`` is set, the usual input of a
            pretrained torchvision model: e.g. ``torchvision.models.efficientnet_b0(weights=...).features[:4]``
            (40 channels at stride 8). Default: :class:`SmallImageEncoder` with ``backbone_channels``.
        backbone_channels: the backbone's output channels.
        normalize: apply ImageNet normalisation before the backbone.
        mode: the sampling kernel of the lifting.
    """

    takes_extras = True

    def __init__(
        self,
        grid: BEVGrid,
        dim: int,
        *,
        backbone: nn.Module | None = None,
        backbone_channels: int = 32,
        normalize: bool = True,
        mode: str = "bilinear",
    ) -> None:
        super().__init__()
        self.grid, self.mode, self.normalize = grid, mode, normalize
        self.backbone = backbone if backbone is not None else SmallImageEncoder(backbone_channels)
        self.backbone_channels = backbone_channels
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.reduce = bev_block(backbone_channels * grid.z_bins, dim)

    def image_features(self, camera: Tensor, present: Tensor) -> Tensor:
        """``Float[N, K, C, h, w]``: the backbone's features of the present cameras, zeros for the others."""
        n, k = camera.shape[:2]
        flat = rearrange(camera, "batch camera rgb height width -> (batch camera) rgb height width")
        rows = present.reshape(-1).nonzero().squeeze(1)
        images = flat.index_select(0, rows)
        if self.normalize:
            images = (images - self.mean) / self.std  # type: ignore[operator]
        out: Tensor = self.backbone(images)
        if out.shape[1] != self.backbone_channels:
            raise ValueError(f"the backbone must give {self.backbone_channels} channels; got {out.shape[1]}")
        full = out.new_zeros((n * k, *out.shape[1:])).index_copy(0, rows, out)
        return rearrange(full, "(batch camera) channel height width -> batch camera channel height width", camera=k)

    def forward(self, camera: Tensor, extras: Mapping[str, Tensor] | None = None) -> Tensor:
        if camera.dim() != 5 or camera.shape[2] != 3:
            raise ValueError(f"expected camera images Float[N, K, 3, H, W]; got {list(camera.shape)}")
        if extras is None or "intrinsics" not in extras or "cam_to_ego" not in extras:
            raise ValueError("the camera encoder needs extras['intrinsics'] and extras['cam_to_ego']")
        n, k = camera.shape[:2]
        present = extras.get("camera_present")
        present = torch.ones(n, k, dtype=torch.bool, device=camera.device) if present is None else present.bool()
        features = self.image_features(camera, present)
        image_size = (int(camera.shape[-2]), int(camera.shape[-1]))
        lifted = lift_to_bev(
            features, extras["intrinsics"], extras["cam_to_ego"], present, image_size, self.grid, mode=self.mode
        )
        return self.reduce(rearrange(lifted, "batch channel z x y -> batch (channel z) x y"))  # type: ignore[no-any-return]
