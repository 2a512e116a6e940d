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

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mce_data._informativeness import check_informativeness
from mce_data._optional import require
from mce_data.nuscenes import CAMERAS, LIDAR, MODALITIES, RADARS, BEVConfig
from mce_data.nuscenes_grid import quaternion_matrix
from mce_data.synthetic_nuscenes_sensors import (
    CAMERA_YAWS,
    RADAR_YAWS,
    camera_image,
    camera_rotation,
    lidar_points,
    matrix_quaternion,
    radar_points,
    token_of,
    write_pcd,
    yaw_quaternion,
)


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
    categories = {"vehicle.car": token_of("category", "car"), "human.pedestrian.adult": token_of("category", "ped")}
    for index, (name, token) in enumerate(categories.items()):
        tables["category"].append({"token": token, "name": name, "description": name, "index": index})
    for level, token in zip(("v0-40", "v40-60", "v60-80", "v80-100"), "1234", strict=False):
        tables["visibility"].append({"token": token, "level": level, "description": f"visibility {level}"})
    height, width = image_size
    intrinsic = [[width / 2.0, 0.0, width / 2.0], [0.0, width / 2.0, height / 2.0], [0.0, 0.0, 1.0]]
    calibration: dict[str, dict[str, Any]] = {}
    for channel in (*CAMERAS, LIDAR, *RADARS):
        modality = "camera" if channel.startswith("CAM") else "lidar" if channel == LIDAR else "radar"
        sensor = {"token": token_of("sensor", channel), "channel": channel, "modality": modality}
        tables["sensor"].append(sensor)
        if modality == "camera":
            mount, position = camera_rotation(CAMERA_YAWS[channel]), [1.5, 0.0, 1.5]
        elif modality == "lidar":
            mount, position = quaternion_matrix(yaw_quaternion(np.pi / 2)), [0.9, 0.0, 1.8]
        else:
            mount, position = (
                quaternion_matrix(yaw_quaternion(np.radians(RADAR_YAWS[channel]))),
                [2.0, 0.0, 0.5],
            )
        calibration[channel] = {
            "token": token_of("calibrated_sensor", channel), "sensor_token": sensor["token"], "translation": position,
            "rotation": matrix_quaternion(mount), "camera_intrinsic": intrinsic if modality == "camera" else [],
            "_matrix": mount,
        }  # fmt: skip
    for record in calibration.values():
        tables["calibrated_sensor"].append({k: v for k, v in record.items() if k != "_matrix"})
    map_token = token_of("map", 0)
    (out / "maps").mkdir(parents=True, exist_ok=True)
    image_module.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(out / "maps" / f"{map_token}.png")
    tables["map"].append(
        {"token": map_token, "log_tokens": [], "category": "semantic_prior", "filename": f"maps/{map_token}.png"}
    )
    for folder in (*CAMERAS, LIDAR, *RADARS):
        (out / "samples" / folder).mkdir(parents=True, exist_ok=True)
    for scene_index in range(n_scenes):
        log_token, scene_token = token_of("log", scene_index), token_of("scene", scene_index)
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
        instances = [token_of("instance", scene_index, a) for a in range(len(actors))]
        visibilities = [str(rng.integers(1, 5)) for _ in actors]
        sample_tokens = [token_of("sample", scene_index, s) for s in range(samples_per_scene)]
        for s, sample_token in enumerate(sample_tokens):
            timestamp = 1_532_402_927_000_000 + scene_index * 100_000_000 + s * 500_000
            tables["sample"].append({"token": sample_token, "timestamp": timestamp, "scene_token": scene_token,
                                     "prev": sample_tokens[s - 1] if s else "",
                                     "next": sample_tokens[s + 1] if s + 1 < samples_per_scene else ""})  # fmt: skip
            ego_xy = origin + s * 2.0 * np.array([np.cos(heading), np.sin(heading)])
            ego = np.eye(4)
            ego[:3, :3] = quaternion_matrix(yaw_quaternion(heading))
            ego[:3, 3] = [ego_xy[0], ego_xy[1], 0.0]
            boxes = []  # in the ego frame: (category, centre[3], yaw, size)
            for a, (category, x, y, yaw, size) in enumerate(actors):
                centre = np.array([x - 2.0 * s, y, size[2] / 2])
                boxes.append((category, centre, yaw, size))
                world = ego[:3, :3] @ centre + ego[:3, 3]
                annotation_token = token_of("annotation", scene_index, a, s)
                tables["sample_annotation"].append({
                    "token": annotation_token, "sample_token": sample_token, "instance_token": instances[a],
                    "visibility_token": visibilities[a], "attribute_tokens": [], "translation": world.tolist(),
                    "size": list(size), "rotation": yaw_quaternion(heading + yaw),
                    "prev": token_of("annotation", scene_index, a, s - 1) if s else "",
                    "next": token_of("annotation", scene_index, a, s + 1) if s + 1 < samples_per_scene else "",
                    "num_lidar_pts": 10, "num_radar_pts": 1,
                })  # fmt: skip
            lidar, radar = lidar_points(boxes, weights["lidar"], rng), radar_points(boxes, weights["radar"], rng)
            for channel in (*CAMERAS, LIDAR, *RADARS):
                data_token = token_of("sample_data", scene_index, s, channel)
                pose_token = token_of("ego_pose", scene_index, s, channel)
                pose = {"token": pose_token, "timestamp": timestamp, "translation": ego[:3, 3].tolist()}
                tables["ego_pose"].append({**pose, "rotation": yaw_quaternion(heading)})
                calib = calibration[channel]
                rotation, translation = calib["_matrix"], np.asarray(calib["translation"])
                if channel.startswith("CAM"):
                    filename, fileformat = f"samples/{channel}/{data_token}.jpg", "jpg"
                    pixels = camera_image(
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
                    write_pcd(out / filename, points)
                tables["sample_data"].append({
                    "token": data_token, "sample_token": sample_token, "ego_pose_token": pose_token,
                    "calibrated_sensor_token": calib["token"], "timestamp": timestamp, "fileformat": fileformat,
                    "is_key_frame": True, "height": height if fileformat == "jpg" else 0,
                    "width": width if fileformat == "jpg" else 0, "filename": filename, "prev": "", "next": "",
                })  # fmt: skip
        for a, (category, *_) in enumerate(actors):
            tables["instance"].append({
                "token": instances[a], "category_token": categories[category], "nbr_annotations": samples_per_scene,
                "first_annotation_token": token_of("annotation", scene_index, a, 0),
                "last_annotation_token": token_of("annotation", scene_index, a, samples_per_scene - 1),
            })  # fmt: skip
        tables["scene"].append({"token": scene_token, "log_token": log_token, "nbr_samples": samples_per_scene,
                                "first_sample_token": sample_tokens[0], "last_sample_token": sample_tokens[-1],
                                "name": f"scene-{scene_index + 1:04d}", "description": "synthetic"})  # fmt: skip
    (out / version).mkdir(parents=True, exist_ok=True)
    for name, records in tables.items():
        (out / version / f"{name}.json").write_text(json.dumps(records, indent=0))
    return out


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
