"""nuScenes on the Simple-BEV grid: six cameras, LiDAR occupancy, radar BEV features, vehicle targets.

The loader talks to a ``NuScenes``-like object (nuscenes-devkit's :class:`nuscenes.nuscenes.NuScenes`,
or anything with ``dataroot``, ``sample`` and ``get(table, token)``) and reads point clouds with the
devkit's ``LidarPointCloud`` / ``RadarPointCloud.from_file``. Per sample it produces (grid and axes:
:mod:`mce_data.nuscenes_grid`, 200×200 cells of 0.5 m over ±50 m, in the ego frame of the LiDAR keyframe):

* ``camera``: ``Float[6, 3, H, W]`` in ``[0, 1]``, cameras in :data:`CAMERAS` order (Simple-BEV's),
  resized to ``image_size``; ``extras["intrinsics"]: Float[6, 3, 3]`` (scaled to that size) and
  ``extras["cam_to_ego"]: Float[6, 4, 4]`` for lifting features to BEV;
* ``lidar``: ``Float[8, 200, 200]`` occupancy of the LIDAR_TOP keyframe (``sweeps`` optional), height bins
  of 1.25 m over ``z in [-4.5, 5.5]`` m, points within 2.2 m of the sensor dropped (as Simple-BEV);
* ``radar``: ``Float[1 + F, 200, 200]``: per cell the number of returns of the five radars, then the
  mean of each of ``radar_fields`` (default ``rcs, vx_comp, vy_comp``). Simple-BEV keeps all 18
  RadarPointCloud fields per point and voxelises the 15 non-position ones (plus sweep time) as
  features; a BEV mean of the physically meaningful ones keeps the cache small. No radar filters are
  applied (Simple-BEV's ``use_radar_filters=False``): all invalid / dynprop / ambig states are kept;
* target ``Long[200, 200]``: 1 inside the footprint of any ``vehicle.*`` box, else 0;
  ``extras["valid"]: Bool[200, 200]``: False on the footprints of vehicles with visibility token
  ``"1"`` (0-40 % visible in the cameras), True elsewhere, as Simple-BEV's ``valid_bev``.

A sample lacking every camera, the LiDAR or every radar has that modality as zeros with
``available = False``; missing single cameras are zero images (``extras["camera_present"]``).
:func:`~mce_data.nuscenes_cache.convert_to_hdf5` caches these tensors; :class:`NuScenesBEVLive`
rasterises them on every access.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from mce_data.nuscenes_grid import BEVGrid, box_bottom_corners, footprint_mask, occupancy, pose_matrix, radar_features
from mce_data.nuscenes_io import NuScenesLike as NuScenesLike
from mce_data.nuscenes_io import category_name, ego_from_sensor, read_cloud, read_image
from mce_data.sample import Sample

MODALITIES: tuple[str, ...] = ("camera", "lidar", "radar")
CAMERAS: tuple[str, ...] = (
    "CAM_FRONT_LEFT",
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_BACK_LEFT",
    "CAM_BACK",
    "CAM_BACK_RIGHT",
)
RADARS: tuple[str, ...] = (
    "RADAR_FRONT",
    "RADAR_FRONT_LEFT",
    "RADAR_FRONT_RIGHT",
    "RADAR_BACK_LEFT",
    "RADAR_BACK_RIGHT",
)
LIDAR = "LIDAR_TOP"

LAYOUT_HELP = """\
nuScenes is distributed by Motional under its terms of use (non-commercial): register and download at
  https://www.nuscenes.org/nuscenes#download   (full v1.0-trainval, or v1.0-mini to try things out).
Unpack the metadata and the sensor blobs into one folder, exactly as the devkit expects:
  <root>/v1.0-trainval/*.json        the tables (scene, sample, sample_data, ego_pose, ...)
  <root>/samples/CAM_FRONT/*.jpg ... samples/LIDAR_TOP/*.pcd.bin, samples/RADAR_FRONT/*.pcd
  <root>/sweeps/...                  (only needed for multi-sweep point clouds)
  <root>/maps/*.png
Install the devkit (it pins numpy<2 but works with numpy 2):
  pip install --no-deps nuscenes-devkit==1.2.0 && pip install 'mce-data[nuscenes]'
then cache the BEV tensors once:
  nusc = NuScenes("v1.0-trainval", dataroot=<root>)
  mce_data.convert_to_hdf5(nusc, "nuscenes_bev.h5")
and train from mce_data.NuScenesBEV("nuscenes_bev.h5")."""

DEFAULT_RADAR_FIELDS: tuple[str, ...] = ("rcs", "vx_comp", "vy_comp")


@dataclass(frozen=True)
class BEVConfig:
    """What to rasterise and how.

    Attributes:
        grid: the BEV grid (Simple-BEV's by default).
        image_size: ``(H, W)`` camera images are resized to (nuScenes images are 900×1600).
        radar_fields: RadarPointCloud fields averaged per cell after the return count.
        lidar_sweeps: LiDAR sweeps aggregated (1 = the keyframe).
        radar_sweeps: radar sweeps aggregated per radar.
        min_distance: points closer than this (metres, in x and y of the sensor) are dropped.
    """

    grid: BEVGrid = field(default_factory=BEVGrid)
    image_size: tuple[int, int] = (224, 400)
    radar_fields: tuple[str, ...] = DEFAULT_RADAR_FIELDS
    lidar_sweeps: int = 1
    radar_sweeps: int = 1
    min_distance: float = 2.2


def rasterise_sample(
    nusc: NuScenesLike, sample_token: str, config: BEVConfig | None = None
) -> dict[str, npt.NDArray[Any]]:
    """Every tensor of one sample as numpy arrays (the record :func:`~mce_data.nuscenes_cache.convert_to_hdf5` stores).

    Returns:
        ``camera: uint8[6, 3, H, W]``, ``intrinsics: float32[6, 3, 3]``, ``cam_to_ego: float32[6, 4, 4]``,
        ``camera_present: bool[6]``, ``lidar: float32[Z, X, Y]``, ``radar: float32[1 + F, X, Y]``,
        ``vehicle: bool[X, Y]``, ``valid: bool[X, Y]``, ``available: bool[3]`` (camera, lidar, radar).
    """
    config = config or BEVConfig()
    grid = config.grid
    sample = nusc.get("sample", sample_token)
    data: Mapping[str, str] = sample["data"]
    anchor = next((data[c] for c in (LIDAR, *CAMERAS, *RADARS) if c in data), None)
    if anchor is None:
        raise ValueError(f"sample {sample_token} has no sensor data at all")
    anchor_pose = nusc.get("ego_pose", nusc.get("sample_data", anchor)["ego_pose_token"])
    ref = np.linalg.inv(pose_matrix(anchor_pose["translation"], anchor_pose["rotation"]))
    height, width = config.image_size
    out: dict[str, npt.NDArray[Any]] = {
        "camera": np.zeros((len(CAMERAS), 3, height, width), dtype=np.uint8),
        "intrinsics": np.tile(np.eye(3, dtype=np.float32), (len(CAMERAS), 1, 1)),
        "cam_to_ego": np.tile(np.eye(4, dtype=np.float32), (len(CAMERAS), 1, 1)),
        "camera_present": np.array([c in data for c in CAMERAS]),
    }
    for index, channel in enumerate(CAMERAS):
        if channel not in data:
            continue
        record = nusc.get("sample_data", data[channel])
        out["camera"][index], sx, sy = read_image(nusc, record, config.image_size)
        sensor = nusc.get("calibrated_sensor", record["calibrated_sensor_token"])
        intrinsic = np.asarray(sensor["camera_intrinsic"], dtype=np.float64)
        if intrinsic.shape != (3, 3):
            raise ValueError(
                f"calibrated_sensor {sensor['token']}: camera_intrinsic must be 3x3; got {intrinsic.shape}"
            )
        out["intrinsics"][index] = np.diag([sx, sy, 1.0]) @ intrinsic
        out["cam_to_ego"][index] = ego_from_sensor(nusc, record, ref)
    has_lidar, radars = LIDAR in data, [data[r] for r in RADARS if r in data]
    out["lidar"] = (
        occupancy(read_cloud(nusc, [data[LIDAR]], "lidar", config.lidar_sweeps, ref, config.min_distance), grid)
        if has_lidar
        else np.zeros((grid.z_bins, *grid.shape), dtype=np.float32)
    )
    out["radar"] = (
        radar_features(
            read_cloud(nusc, radars, "radar", config.radar_sweeps, ref, config.min_distance), grid, config.radar_fields
        )
        if radars
        else np.zeros((1 + len(config.radar_fields), *grid.shape), dtype=np.float32)
    )
    vehicle, valid = np.zeros(grid.shape, dtype=bool), np.ones(grid.shape, dtype=bool)
    for token in sample.get("anns", []):
        annotation = nusc.get("sample_annotation", token)
        if not category_name(nusc, annotation).startswith("vehicle."):
            continue
        size, rotation = np.asarray(annotation["size"], float), np.asarray(annotation["rotation"], float)
        if size.shape != (3,) or (size <= 0).any() or rotation.shape != (4,) or not np.linalg.norm(rotation) > 0:
            raise ValueError(
                f"sample_annotation {token}: size must be 3 positive numbers and rotation a quaternion; "
                f"got {size}, {rotation}"
            )
        corners = box_bottom_corners(annotation["translation"], size, rotation)
        corners = corners @ ref[:3, :3].T + ref[:3, 3]
        footprint = footprint_mask(corners[:, :2], grid)
        vehicle |= footprint
        if str(annotation.get("visibility_token", "")) == "1":
            valid &= ~footprint
    out["vehicle"], out["valid"] = vehicle, valid
    out["available"] = np.array([bool(out["camera_present"].any()), has_lidar, bool(radars)])
    return out


def to_sample(token: str, arrays: Mapping[str, npt.NDArray[Any]]) -> Sample:
    """The :class:`~mce_data.sample.Sample` of one rasterised (or cached) record."""
    return Sample(
        token,
        {
            "camera": torch.from_numpy(np.asarray(arrays["camera"])).float().div_(255.0),
            "lidar": torch.from_numpy(np.asarray(arrays["lidar"], dtype=np.float32)),
            "radar": torch.from_numpy(np.asarray(arrays["radar"], dtype=np.float32)),
        },
        tuple(bool(a) for a in np.asarray(arrays["available"])),
        torch.from_numpy(np.asarray(arrays["vehicle"]).astype(np.int64)),
        {
            "valid": torch.from_numpy(np.asarray(arrays["valid"], dtype=bool)),
            "intrinsics": torch.from_numpy(np.asarray(arrays["intrinsics"], dtype=np.float32)),
            "cam_to_ego": torch.from_numpy(np.asarray(arrays["cam_to_ego"], dtype=np.float32)),
            "camera_present": torch.from_numpy(np.asarray(arrays["camera_present"], dtype=bool)),
        },
    )


def sample_tokens(nusc: NuScenesLike, scenes: Sequence[str] | None = None) -> list[str]:
    """Sample tokens sorted by scene and time, optionally only of the named ``scenes``."""
    records = [s for s in nusc.sample if scenes is None or nusc.get("scene", s["scene_token"])["name"] in set(scenes)]
    return [s["token"] for s in sorted(records, key=lambda s: (s["scene_token"], s["timestamp"]))]


class NuScenesBEVLive:
    """nuScenes samples rasterised on every access (no cache; see :class:`~mce_data.nuscenes_cache.NuScenesBEV`).

    Args:
        nusc: a devkit ``NuScenes`` instance (or a compatible object).
        tokens: the sample tokens to serve; default every sample, by scene and time.
        config: what to rasterise.
    """

    modalities: tuple[str, ...] = MODALITIES

    def __init__(
        self, nusc: NuScenesLike, tokens: Sequence[str] | None = None, config: BEVConfig | None = None
    ) -> None:
        self.nusc = nusc
        self.tokens = list(tokens) if tokens is not None else sample_tokens(nusc)
        self.config = config or BEVConfig()

    def __len__(self) -> int:
        return len(self.tokens)

    def sample_ids(self) -> list[str]:
        """The sample tokens."""
        return list(self.tokens)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        token = self.tokens[index]
        return to_sample(token, rasterise_sample(self.nusc, token, self.config))
