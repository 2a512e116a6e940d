"""Reading nuScenes through the devkit: the :class:`NuScenesLike` protocol a loader needs, and the readers of one
sample's sensor records (point clouds merged over sweeps into the reference ego frame, resized camera images,
sensor-to-ego transforms, annotation categories) that :func:`~mce_data.nuscenes.rasterise_sample` builds on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mce_data._optional import require
from mce_data.errors import DataFileError
from mce_data.nuscenes_grid import pose_matrix

ALL_RADAR_STATES: dict[str, list[int]] = {
    "invalid_states": list(range(18)),
    "dynprop_states": list(range(8)),
    "ambig_states": list(range(5)),
}


class NuScenesLike(Protocol):
    """What the loader needs from a ``NuScenes`` object."""

    dataroot: str
    sample: list[dict[str, Any]]

    def get(self, table_name: str, token: str) -> dict[str, Any]: ...


def data_path(nusc: NuScenesLike, record: Mapping[str, Any]) -> Path:
    """The file of a sample_data ``record`` under the dataroot."""
    return Path(nusc.dataroot) / str(record["filename"])


def read_points(nusc: NuScenesLike, record: Mapping[str, Any], kind: str, min_distance: float) -> npt.NDArray[Any]:
    """Points of one sample_data record in its sensor frame (``[4, N]`` LiDAR, ``[18, N]`` radar)."""
    classes = require("nuscenes.utils.data_classes")
    path = data_path(nusc, record)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the {record.get('channel', kind)} file of sample_data {record['token']} is missing"
        )
    try:
        if kind == "lidar":
            points = np.asarray(classes.LidarPointCloud.from_file(str(path)).points)
        else:
            points = np.asarray(classes.RadarPointCloud.from_file(str(path), **ALL_RADAR_STATES).points)
    except Exception as error:  # the devkit asserts on bad headers and reshape fails on truncated scans
        raise DataFileError(path, f"not a readable {kind} point cloud ({type(error).__name__}: {error})") from error
    if not np.isfinite(points[:3]).all():
        raise DataFileError(path, "the point cloud holds NaN or infinite coordinates")
    far = ~((np.abs(points[0]) < min_distance) & (np.abs(points[1]) < min_distance))
    return points[:, far]


def ego_from_sensor(
    nusc: NuScenesLike, record: Mapping[str, Any], ref_from_global: npt.NDArray[Any]
) -> npt.NDArray[Any]:
    """``[4, 4]``: the record's sensor frame into the reference ego frame ``ref_from_global``."""
    sensor = nusc.get("calibrated_sensor", record["calibrated_sensor_token"])
    pose = nusc.get("ego_pose", record["ego_pose_token"])
    return (
        ref_from_global
        @ pose_matrix(pose["translation"], pose["rotation"])
        @ pose_matrix(sensor["translation"], sensor["rotation"])
    )


def sweep_records(nusc: NuScenesLike, token: str, n: int) -> list[dict[str, Any]]:
    """The sample_data record of ``token`` and up to ``n - 1`` earlier sweeps, newest first."""
    records = [nusc.get("sample_data", token)]
    while len(records) < n and records[-1].get("prev"):
        records.append(nusc.get("sample_data", records[-1]["prev"]))
    return records


def read_cloud(
    nusc: NuScenesLike, tokens: Sequence[str], kind: str, sweeps: int, ref: npt.NDArray[Any], min_distance: float
) -> npt.NDArray[Any]:
    """The points of ``tokens`` (over ``sweeps`` sweeps each) in the reference ego frame, concatenated."""
    clouds = []
    for token in tokens:
        for record in sweep_records(nusc, token, sweeps):
            points = read_points(nusc, record, kind, min_distance).astype(np.float64)
            transform = ego_from_sensor(nusc, record, ref)
            points[:3] = transform[:3, :3] @ points[:3] + transform[:3, 3:4]
            clouds.append(points)
    return np.concatenate(clouds, axis=1)


def read_image(
    nusc: NuScenesLike, record: Mapping[str, Any], size: tuple[int, int]
) -> tuple[npt.NDArray[np.uint8], float, float]:
    """A camera image as ``uint8[3, H, W]`` resized to ``size``, with the x and y scale factors."""
    image_module = require("PIL.Image")
    path = data_path(nusc, record)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the {record.get('channel', 'camera')} image of sample_data {record['token']} is missing"
        )
    try:
        with image_module.open(path) as image:
            width, height = image.size
            resized = image.convert("RGB").resize((size[1], size[0]), image_module.BILINEAR)
            array = np.asarray(resized, dtype=np.uint8)
    except Exception as error:
        raise DataFileError(path, f"not a readable image ({type(error).__name__}: {error})") from error
    return array.transpose(2, 0, 1), size[1] / width, size[0] / height


def category_name(nusc: NuScenesLike, annotation: Mapping[str, Any]) -> str:
    """The category name of a sample_annotation (inline, or via its instance)."""
    if "category_name" in annotation:
        return str(annotation["category_name"])
    instance = nusc.get("instance", annotation["instance_token"])
    return str(nusc.get("category", instance["category_token"])["name"])
