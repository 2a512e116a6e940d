"""The sensors of the synthetic nuScenes scenes: sensor mounting angles and rotation helpers (yaw and matrix
quaternions, the camera axes), binary radar PCD writing, and the simulated LiDAR points, radar returns and camera
images of a sample's boxes that :func:`~mce_data.synthetic_nuscenes.write_synthetic_nuscenes` writes to disk.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mce_data.nuscenes_grid import RADAR_FIELDS, quaternion_matrix

CAMERA_YAWS = {
    "CAM_FRONT_LEFT": 55.0,
    "CAM_FRONT": 0.0,
    "CAM_FRONT_RIGHT": -55.0,
    "CAM_BACK_LEFT": 110.0,
    "CAM_BACK": 180.0,
    "CAM_BACK_RIGHT": -110.0,
}
RADAR_YAWS = {
    "RADAR_FRONT": 0.0,
    "RADAR_FRONT_LEFT": 90.0,
    "RADAR_FRONT_RIGHT": -90.0,
    "RADAR_BACK_LEFT": 150.0,
    "RADAR_BACK_RIGHT": -150.0,
}
PCD_DTYPE = np.dtype(
    [
        (name, {"dyn_prop": "i1", "id": "<i2"}.get(name, "<f4" if i < 10 else "i1"))
        for i, name in enumerate(RADAR_FIELDS)
    ]
)


def token_of(*parts: object) -> str:
    """A stable 32-hex-digit token (md5) of ``parts`` joined by ``/``."""
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def yaw_quaternion(yaw: float) -> list[float]:
    """The unit quaternion ``(w, x, y, z)`` of a rotation by ``yaw`` radians about z."""
    return [float(np.cos(yaw / 2)), 0.0, 0.0, float(np.sin(yaw / 2))]


def matrix_quaternion(matrix: npt.NDArray[Any]) -> list[float]:
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


def camera_rotation(yaw_degrees: float) -> npt.NDArray[Any]:
    """Camera (x right, y down, z forward) to ego (x forward, y left, z up), turned by ``yaw``."""
    front = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    out: npt.NDArray[Any] = quaternion_matrix(yaw_quaternion(np.radians(yaw_degrees))) @ front
    return out


def write_pcd(path: Path, points: npt.NDArray[Any]) -> None:
    """Write ``points`` (``[18, N]``, in ``RADAR_FIELDS`` order) as a binary PCD v0.7 file."""
    records = np.zeros(points.shape[1], dtype=PCD_DTYPE)
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


def surface_points(
    centre: npt.NDArray[Any], yaw: float, size: tuple[float, float, float], n: int, rng: np.random.Generator
) -> npt.NDArray[Any]:
    """``[3, n]`` points on the sides of a box (``size``: width, length, height) at ``centre``, turned by ``yaw``."""
    width, length, height = size
    local = rng.uniform(-0.5, 0.5, size=(3, n)) * np.array([[length], [width], [height]])
    side = rng.integers(0, 2, n).astype(bool)
    local[0, side] = np.sign(local[0, side]) * length / 2
    local[1, ~side] = np.sign(local[1, ~side]) * width / 2
    out: npt.NDArray[Any] = quaternion_matrix(yaw_quaternion(yaw)) @ local + centre[:, None]
    return out


def lidar_points(boxes: list[Any], weight: float, rng: np.random.Generator) -> npt.NDArray[Any]:
    """``[4, N]`` ego-frame points (x, y, z, intensity): clutter plus ``60 * weight`` points per vehicle."""
    clutter = np.stack([rng.uniform(-50, 50, 400), rng.uniform(-50, 50, 400), rng.uniform(-0.5, 2.5, 400)])
    parts = [clutter]
    for category, centre, yaw, size in boxes:
        if category.startswith("vehicle"):
            parts.append(surface_points(centre, yaw, size, round(60 * weight), rng))
    points = np.concatenate(parts, axis=1)
    out: npt.NDArray[Any] = np.concatenate([points, rng.uniform(0, 100, (1, points.shape[1]))])
    return out


def radar_points(boxes: list[Any], weight: float, rng: np.random.Generator) -> npt.NDArray[Any]:
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


def camera_image(
    boxes: list[Any], rotation: npt.NDArray[Any], translation: npt.NDArray[Any], intrinsic: npt.NDArray[Any],
    size: tuple[int, int], weight: float, rng: np.random.Generator,
) -> npt.NDArray[np.uint8]:  # fmt: skip
    """``uint8[H, W, 3]``: noise plus a bright patch where each vehicle projects into the camera."""
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
