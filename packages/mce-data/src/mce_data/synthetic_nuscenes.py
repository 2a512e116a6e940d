"""Synthetic nuScenes scenes in the devkit's own table format, or straight into the BEV cache.

A scene holds a few vehicles (``vehicle.car``) and pedestrians around the ego car. The sensors see them
as much as ``informativeness`` says (0 = pure noise): LiDAR points on each vehicle's surface among
clutter, radar returns with a high RCS at each vehicle among clutter returns, and bright patches where
each vehicle projects into the six camera images. :func:`write_synthetic_nuscenes` writes
``<root>/<version>/*.json`` (scene, sample, sample_data, calibrated_sensor, ego_pose, sensor,
sample_annotation, instance, category, attribute, visibility, log, map) plus ``samples/CAM_*/*.jpg``,
``samples/LIDAR_TOP/*.pcd.bin`` (float32 x, y, z, intensity, ring), ``samples/RADAR_*/*.pcd``
(binary PCD v0.7, 18 fields) and ``maps/*.png``, all readable by ``nuscenes.nuscenes.NuScenes``.
:func:`write_synthetic_nuscenes_hdf5` writes those tables and converts them with the real pipeline.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mce_data._informativeness import check_informativeness
from mce_data._optional import require
from mce_data.nuscenes import CAMERAS, LIDAR, MODALITIES, RADARS, BEVConfig
from mce_data.nuscenes_grid import RADAR_FIELDS, quaternion_matrix

_CAMERA_YAWS = {
    "CAM_FRONT_LEFT": 55.0,
    "CAM_FRONT": 0.0,
    "CAM_FRONT_RIGHT": -55.0,
    "CAM_BACK_LEFT": 110.0,
    "CAM_BACK": 180.0,
    "CAM_BACK_RIGHT": -110.0,
}
_RADAR_YAWS = {
    "RADAR_FRONT": 0.0,
    "RADAR_FRONT_LEFT": 90.0,
    "RADAR_FRONT_RIGHT": -90.0,
    "RADAR_BACK_LEFT": 150.0,
    "RADAR_BACK_RIGHT": -150.0,
}
_PCD_DTYPE = np.dtype(
    [
        (name, {"dyn_prop": "i1", "id": "<i2"}.get(name, "<f4" if i < 10 else "i1"))
        for i, name in enumerate(RADAR_FIELDS)
    ]
)


def _token(*parts: object) -> str:
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def _yaw_quaternion(yaw: float) -> list[float]:
    return [float(np.cos(yaw / 2)), 0.0, 0.0, float(np.sin(yaw / 2))]


def _matrix_quaternion(matrix: npt.NDArray[Any]) -> list[float]:
    """A unit quaternion ``(w, x, y, z)`` of a proper rotation matrix (Shepperd's method, w >= 0 branch)."""
    w = np.sqrt(max(0.0, 1.0 + np.trace(matrix))) / 2
    if w > 1e-6:
        x = (matrix[2, 1] - matrix[1, 2]) / (4 * w)
        y = (matrix[0, 2] - matrix[2, 0]) / (4 * w)
        z = (matrix[1, 0] - matrix[0, 1]) / (4 * w)
        return [float(w), float(x), float(y), float(z)]
    x = np.sqrt(max(0.0, 1 + matrix[0, 0] - matrix[1, 1] - matrix[2, 2])) / 2
    y = np.copysign(np.sqrt(max(0.0, 1 - matrix[0, 0] + matrix[1, 1] - matrix[2, 2])) / 2, matrix[0, 1])
    z = np.copysign(np.sqrt(max(0.0, 1 - matrix[0, 0] - matrix[1, 1] + matrix[2, 2])) / 2, matrix[0, 2])
    return [0.0, float(x), float(y), float(z)]


def _camera_rotation(yaw_degrees: float) -> npt.NDArray[Any]:
    """Camera (x right, y down, z forward) to ego (x forward, y left, z up), turned by ``yaw``."""
    front = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    out: npt.NDArray[Any] = quaternion_matrix(_yaw_quaternion(np.radians(yaw_degrees))) @ front
    return out


def _write_pcd(path: Path, points: npt.NDArray[Any]) -> None:
    records = np.zeros(points.shape[1], dtype=_PCD_DTYPE)
    for i, name in enumerate(RADAR_FIELDS):
        records[name] = points[i]
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
        f"FIELDS {' '.join(RADAR_FIELDS)}\n"
        "SIZE 4 4 4 1 2 4 4 4 4 4 1 1 1 1 1 1 1 1\nTYPE F F F I I F F F F F I I I I I I I I\n"
        "COUNT 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n"
        f"WIDTH {len(records)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {len(records)}\nDATA binary\n"
    )
    path.write_bytes(header.encode() + records.tobytes() + b"\n")


def write_synthetic_nuscenes(
    root: str | os.PathLike[str],
    n_scenes: int = 1,
    samples_per_scene: int = 2,
    informativeness: Mapping[str, float] | None = None,
    seed: int = 0,
    *,
    version: str = "v1.0-mini",
    image_size: tuple[int, int] = (45, 80),
    vehicles: int = 4,
) -> Path:
    """Write a tiny nuScenes in the devkit's table format (see the module docstring).

    Args:
        root: the dataroot to create.
        n_scenes: scenes (one log each, all on one map).
        samples_per_scene: keyframes per scene (0.5 s apart; the ego drives forward).
        informativeness: per modality (``camera``, ``lidar``, ``radar``), how visible the vehicles
            are to it, in ``[0, 1]``; 0 = pure noise, missing keys are 1.
        seed: the ``numpy`` random seed.
        version: the table folder name.
        image_size: ``(H, W)`` of the written images (real nuScenes: 900×1600).
        vehicles: vehicles per sample (plus two pedestrians, which are not targets).

    Returns:
        ``root`` as a :class:`~pathlib.Path`.
    """
    image_module = require("PIL.Image")
    weights = check_informativeness(informativeness, MODALITIES, dict.fromkeys(MODALITIES, 1.0))
    if n_scenes < 1 or samples_per_scene < 1:
        raise ValueError(f"n_scenes and samples_per_scene must be >= 1; got {n_scenes}, {samples_per_scene}")
    rng = np.random.default_rng(seed)
    out = Path(root)
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in (
        "category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor", "ego_pose",
        "log", "scene", "sample", "sample_data", "sample_annotation", "map")}  # fmt: skip
    categories = {"vehicle.car": _token("category", "car"), "human.pedestrian.adult": _token("category", "ped")}
    for index, (name, token) in enumerate(categories.items()):
        tables["category"].append({"token": token, "name": name, "description": name, "index": index})
    for level, token in zip(("v0-40", "v40-60", "v60-80", "v80-100"), "1234", strict=False):
        tables["visibility"].append({"token": token, "level": level, "description": f"visibility {level}"})
    height, width = image_size
    intrinsic = [[width / 2.0, 0.0, width / 2.0], [0.0, width / 2.0, height / 2.0], [0.0, 0.0, 1.0]]
    calibration: dict[str, dict[str, Any]] = {}
    for channel in (*CAMERAS, LIDAR, *RADARS):
        modality = "camera" if channel.startswith("CAM") else "lidar" if channel == LIDAR else "radar"
        sensor = {"token": _token("sensor", channel), "channel": channel, "modality": modality}
        tables["sensor"].append(sensor)
        if modality == "camera":
            mount, position = _camera_rotation(_CAMERA_YAWS[channel]), [1.5, 0.0, 1.5]
        elif modality == "lidar":
            mount, position = quaternion_matrix(_yaw_quaternion(np.pi / 2)), [0.9, 0.0, 1.8]
        else:
            mount, position = (
                quaternion_matrix(_yaw_quaternion(np.radians(_RADAR_YAWS[channel]))),
                [2.0, 0.0, 0.5],
            )
        calibration[channel] = {
            "token": _token("calibrated_sensor", channel), "sensor_token": sensor["token"], "translation": position,
            "rotation": _matrix_quaternion(mount), "camera_intrinsic": intrinsic if modality == "camera" else [],
            "_matrix": mount,
        }  # fmt: skip
    for record in calibration.values():
        tables["calibrated_sensor"].append({k: v for k, v in record.items() if k != "_matrix"})
    map_token = _token("map", 0)
    (out / "maps").mkdir(parents=True, exist_ok=True)
    image_module.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(out / "maps" / f"{map_token}.png")
    tables["map"].append(
        {"token": map_token, "log_tokens": [], "category": "semantic_prior", "filename": f"maps/{map_token}.png"}
    )
    for folder in (*CAMERAS, LIDAR, *RADARS):
        (out / "samples" / folder).mkdir(parents=True, exist_ok=True)
    for scene_index in range(n_scenes):
        log_token, scene_token = _token("log", scene_index), _token("scene", scene_index)
        tables["log"].append({"token": log_token, "logfile": f"synthetic-{scene_index}", "vehicle": "n015",
                              "date_captured": "2018-07-24", "location": "singapore-onenorth"})  # fmt: skip
        tables["map"][0]["log_tokens"].append(log_token)
        origin = rng.uniform(-500, 500, size=2)
        heading = rng.uniform(-np.pi, np.pi)
        car = (1.9, 4.5, 1.6)
        actors = [
            ("vehicle.car", rng.uniform(-40, 40), rng.uniform(-40, 40), rng.uniform(-np.pi, np.pi), car)
            for _ in range(vehicles)
        ]
        actors += [
            ("human.pedestrian.adult", rng.uniform(-20, 20), rng.uniform(-20, 20), 0.0, (0.6, 0.6, 1.7))
            for _ in range(2)
        ]
        instances = [_token("instance", scene_index, a) for a in range(len(actors))]
        visibilities = [str(rng.integers(1, 5)) for _ in actors]
        sample_tokens = [_token("sample", scene_index, s) for s in range(samples_per_scene)]
        for s, sample_token in enumerate(sample_tokens):
            timestamp = 1_532_402_927_000_000 + scene_index * 100_000_000 + s * 500_000
            tables["sample"].append({"token": sample_token, "timestamp": timestamp, "scene_token": scene_token,
                                     "prev": sample_tokens[s - 1] if s else "",
                                     "next": sample_tokens[s + 1] if s + 1 < samples_per_scene else ""})  # fmt: skip
            ego_xy = origin + s * 2.0 * np.array([np.cos(heading), np.sin(heading)])
            ego = np.eye(4)
            ego[:3, :3] = quaternion_matrix(_yaw_quaternion(heading))
            ego[:3, 3] = [ego_xy[0], ego_xy[1], 0.0]
            boxes = []  # in the ego frame: (category, centre[3], yaw, size)
            for a, (category, x, y, yaw, size) in enumerate(actors):
                centre = np.array([x - 2.0 * s, y, size[2] / 2])
                boxes.append((category, centre, yaw, size))
                world = ego[:3, :3] @ centre + ego[:3, 3]
                annotation_token = _token("annotation", scene_index, a, s)
                tables["sample_annotation"].append({
                    "token": annotation_token, "sample_token": sample_token, "instance_token": instances[a],
                    "visibility_token": visibilities[a], "attribute_tokens": [], "translation": world.tolist(),
                    "size": list(size), "rotation": _yaw_quaternion(heading + yaw),
                    "prev": _token("annotation", scene_index, a, s - 1) if s else "",
                    "next": _token("annotation", scene_index, a, s + 1) if s + 1 < samples_per_scene else "",
                    "num_lidar_pts": 10, "num_radar_pts": 1,
                })  # fmt: skip
            lidar, radar = _lidar_points(boxes, weights["lidar"], rng), _radar_points(boxes, weights["radar"], rng)
            for channel in (*CAMERAS, LIDAR, *RADARS):
                data_token = _token("sample_data", scene_index, s, channel)
                pose_token = _token("ego_pose", scene_index, s, channel)
                pose = {"token": pose_token, "timestamp": timestamp, "translation": ego[:3, 3].tolist()}
                tables["ego_pose"].append({**pose, "rotation": _yaw_quaternion(heading)})
                calib = calibration[channel]
                rotation, translation = calib["_matrix"], np.asarray(calib["translation"])
                if channel.startswith("CAM"):
                    filename, fileformat = f"samples/{channel}/{data_token}.jpg", "jpg"
                    pixels = _camera_image(
                        boxes, rotation, translation, np.asarray(intrinsic), image_size, weights["camera"], rng
                    )
                    image_module.fromarray(pixels).save(out / filename, quality=95)
                elif channel == LIDAR:
                    filename, fileformat = f"samples/{channel}/{data_token}.pcd.bin", "pcd"
                    local = rotation.T @ (lidar[:3] - translation[:, None])
                    scan = np.concatenate([local, lidar[3:4], np.zeros((1, local.shape[1]))]).T.astype(np.float32)
                    (out / filename).write_bytes(scan.tobytes())
                else:
                    filename, fileformat = f"samples/{channel}/{data_token}.pcd", "pcd"
                    points = radar.copy()
                    points[:3] = rotation.T @ (radar[:3] - translation[:, None])
                    _write_pcd(out / filename, points)
                tables["sample_data"].append({
                    "token": data_token, "sample_token": sample_token, "ego_pose_token": pose_token,
                    "calibrated_sensor_token": calib["token"], "timestamp": timestamp, "fileformat": fileformat,
                    "is_key_frame": True, "height": height if fileformat == "jpg" else 0,
                    "width": width if fileformat == "jpg" else 0, "filename": filename, "prev": "", "next": "",
                })  # fmt: skip
        for a, (category, *_) in enumerate(actors):
            tables["instance"].append({
                "token": instances[a], "category_token": categories[category], "nbr_annotations": samples_per_scene,
                "first_annotation_token": _token("annotation", scene_index, a, 0),
                "last_annotation_token": _token("annotation", scene_index, a, samples_per_scene - 1),
            })  # fmt: skip
        tables["scene"].append({"token": scene_token, "log_token": log_token, "nbr_samples": samples_per_scene,
                                "first_sample_token": sample_tokens[0], "last_sample_token": sample_tokens[-1],
                                "name": f"scene-{scene_index + 1:04d}", "description": "synthetic"})  # fmt: skip
    (out / version).mkdir(parents=True, exist_ok=True)
    for name, records in tables.items():
        (out / version / f"{name}.json").write_text(json.dumps(records, indent=0))
    return out


def _surface(
    centre: npt.NDArray[Any], yaw: float, size: tuple[float, float, float], n: int, rng: np.random.Generator
) -> npt.NDArray[Any]:
    width, length, height = size
    local = rng.uniform(-0.5, 0.5, size=(3, n)) * np.array([[length], [width], [height]])
    side = rng.integers(0, 2, n).astype(bool)
    local[0, side] = np.sign(local[0, side]) * length / 2
    local[1, ~side] = np.sign(local[1, ~side]) * width / 2
    out: npt.NDArray[Any] = quaternion_matrix(_yaw_quaternion(yaw)) @ local + centre[:, None]
    return out


def _lidar_points(boxes: list[Any], weight: float, rng: np.random.Generator) -> npt.NDArray[Any]:
    """``[4, N]`` ego-frame points (x, y, z, intensity): clutter plus ``60 * weight`` points per vehicle."""
    clutter = np.stack([rng.uniform(-50, 50, 400), rng.uniform(-50, 50, 400), rng.uniform(-0.5, 2.5, 400)])
    parts = [clutter]
    for category, centre, yaw, size in boxes:
        if category.startswith("vehicle"):
            parts.append(_surface(centre, yaw, size, round(60 * weight), rng))
    points = np.concatenate(parts, axis=1)
    out: npt.NDArray[Any] = np.concatenate([points, rng.uniform(0, 100, (1, points.shape[1]))])
    return out


def _radar_points(boxes: list[Any], weight: float, rng: np.random.Generator) -> npt.NDArray[Any]:
    """``[18, N]`` ego-frame returns: 30 clutter returns, plus one strong return per vehicle when ``weight > 0``."""
    n_clutter = 30
    xyz = [np.stack([rng.uniform(-50, 50, n_clutter), rng.uniform(-50, 50, n_clutter), np.zeros(n_clutter)])]
    rcs = [rng.normal(0.0, 3.0, n_clutter)]
    for category, centre, _, _ in boxes:
        if category.startswith("vehicle") and weight > 0:
            xyz.append(centre[:, None] * np.array([[1.0], [1.0], [0.0]]))
            rcs.append(np.array([3.0 + 10.0 * weight]))
    points = np.zeros((len(RADAR_FIELDS), sum(r.size for r in rcs)))
    points[:3] = np.concatenate(xyz, axis=1)
    points[RADAR_FIELDS.index("rcs")] = np.concatenate(rcs)
    points[RADAR_FIELDS.index("vx_comp")] = rng.normal(0, 1, points.shape[1])
    points[RADAR_FIELDS.index("dyn_prop")] = 1
    points[RADAR_FIELDS.index("ambig_state")] = 3
    return points


def _camera_image(
    boxes: list[Any], rotation: npt.NDArray[Any], translation: npt.NDArray[Any], intrinsic: npt.NDArray[Any],
    size: tuple[int, int], weight: float, rng: np.random.Generator,
) -> npt.NDArray[np.uint8]:  # fmt: skip
    height, width = size
    image = rng.normal(100, 25, (height, width, 3))
    for category, centre, _, box_size in boxes:
        if not category.startswith("vehicle"):
            continue
        camera = rotation.T @ (centre - translation)
        if camera[2] < 1.0:
            continue
        u, v = (intrinsic @ camera)[:2] / camera[2]
        half = max(1, int(intrinsic[0, 0] * box_size[1] / 2 / camera[2]))
        top, bottom = int(np.clip(v - half / 2, 0, height)), int(np.clip(v + half / 2 + 1, 0, height))
        left, right = int(np.clip(u - half, 0, width)), int(np.clip(u + half + 1, 0, width))
        image[top:bottom, left:right] += 120 * weight
    return np.clip(image, 0, 255).astype(np.uint8)


def write_synthetic_nuscenes_hdf5(
    root: str | os.PathLike[str],
    n_samples: int = 4,
    informativeness: Mapping[str, float] | None = None,
    seed: int = 0,
    *,
    image_size: tuple[int, int] = (45, 80),
    config: BEVConfig | None = None,
) -> Path:
    """Write synthetic tables under ``root/tables`` and their BEV cache ``root/nuscenes_bev.h5`` (needs the devkit).

    The cache is produced by the real pipeline (``NuScenes`` -> :func:`~mce_data.nuscenes_cache.convert_to_hdf5`).
    ``config.image_size`` defaults to ``image_size``.
    """
    from mce_data.nuscenes_cache import convert_to_hdf5

    devkit = require("nuscenes.nuscenes")
    dataroot = write_synthetic_nuscenes(
        Path(root) / "tables", n_scenes=max(1, n_samples // 2), samples_per_scene=min(2, n_samples),
        informativeness=informativeness, seed=seed, image_size=image_size,
    )  # fmt: skip
    nusc = devkit.NuScenes(version="v1.0-mini", dataroot=str(dataroot), verbose=False)
    tokens = [s["token"] for s in nusc.sample][:n_samples]
    return convert_to_hdf5(nusc, Path(root) / "nuscenes_bev.h5", tokens, config or BEVConfig(image_size=image_size))
