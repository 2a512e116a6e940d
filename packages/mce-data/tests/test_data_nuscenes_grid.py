"""The Simple-BEV grid rasterisers, checked by hand and by brute force (no devkit needed)."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

from mce_data.nuscenes_grid import (
    RADAR_FIELDS,
    BEVGrid,
    box_bottom_corners,
    footprint_mask,
    occupancy,
    pose_matrix,
    quaternion_matrix,
    radar_features,
)


def test_docstring_examples() -> None:
    result = doctest.testmod(
        importlib.import_module("mce_data.nuscenes_grid"), optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0


def test_default_grid_is_simple_bev() -> None:
    grid = BEVGrid()
    assert grid.shape == (200, 200)
    assert grid.z_bins == 8
    assert grid.z_step == 1.25
    assert grid.z_bounds[1] - grid.z_bounds[0] == 10.0
    xs, ys = grid.centres()
    assert xs[0] == -49.75
    assert xs[-1] == 49.75
    assert ys[100] == 0.25
    with pytest.raises(ValueError, match="max > min"):
        BEVGrid(x_bounds=(5.0, -5.0))


def test_occupancy_against_a_loop() -> None:
    rng = np.random.default_rng(0)
    points = np.stack([rng.uniform(-60, 60, 500), rng.uniform(-60, 60, 500), rng.uniform(-6, 7, 500)])
    grid = BEVGrid()
    expected = set()
    for x, y, z in points.T:
        i, j, k = int((x + 50) // 0.5), int((y + 50) // 0.5), int((z + 4.5) // 1.25)
        if 0 <= i < 200 and 0 <= j < 200 and 0 <= k < 8:
            expected.add((k, i, j))
    result = occupancy(points, grid)
    assert result.shape == (8, 200, 200)
    assert set(result.ravel().tolist()) <= {0.0, 1.0}
    assert set(zip(*[a.tolist() for a in np.nonzero(result)], strict=False)) == expected


def test_radar_features_count_and_mean_by_hand() -> None:
    points = np.zeros((18, 3))
    points[:2] = [[0.1, 0.2, 10.0], [0.1, 0.3, 10.0]]  # two returns share cell (100, 100), one in (120, 120)
    points[RADAR_FIELDS.index("rcs")] = [2.0, 4.0, -1.0]
    points[RADAR_FIELDS.index("vx_comp")] = [1.0, 3.0, 5.0]
    out = radar_features(points, BEVGrid(), ("rcs", "vx_comp"))
    assert out.shape == (3, 200, 200)
    assert out[:, 100, 100].tolist() == [2.0, 3.0, 2.0]
    assert out[:, 120, 120].tolist() == [1.0, -1.0, 5.0]
    assert out[0].sum() == 3.0
    with pytest.raises(ValueError, match="radar fields must be among"):
        radar_features(points, BEVGrid(), ("speed",))


def test_rotated_footprint_against_a_brute_force_test() -> None:
    corners = box_bottom_corners([10.0, -5.0, 1.0], [2.0, 5.0, 1.5], [np.cos(0.3), 0.0, 0.0, np.sin(0.3)])
    assert corners.shape == (4, 3)
    assert np.allclose(corners[:, 2], 0.25)
    mask = footprint_mask(corners[:, :2], BEVGrid())
    xs, ys = BEVGrid().centres()
    yaw = 0.6
    u = (xs[:, None] - 10.0) * np.cos(yaw) + (ys[None, :] + 5.0) * np.sin(yaw)
    v = -(xs[:, None] - 10.0) * np.sin(yaw) + (ys[None, :] + 5.0) * np.cos(yaw)
    expected = (np.abs(u) <= 2.5) & (np.abs(v) <= 1.0)
    assert np.array_equal(mask, expected)
    assert abs(mask.sum() * 0.25 - 10.0) < 1.5  # the 2 m × 5 m footprint covers about 40 cells
    assert not footprint_mask(np.array([[80.0, 80.0], [81.0, 80.0], [81.0, 81.0]]), BEVGrid()).any()


def test_quaternions_by_hand() -> None:
    half = np.sqrt(0.5)
    assert np.allclose(quaternion_matrix([1, 0, 0, 0]), np.eye(3))
    assert np.allclose(quaternion_matrix([half, half, 0, 0]), [[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    assert np.allclose(quaternion_matrix([half, 0, half, 0]), [[0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    pose = pose_matrix([1.0, 2.0, 3.0], [half, 0, 0, half])
    assert np.allclose(pose @ [1.0, 0.0, 0.0, 1.0], [1.0, 3.0, 3.0, 1.0])
