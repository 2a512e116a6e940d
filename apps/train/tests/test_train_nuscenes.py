"""nuScenes benchmark: camera lifting geometry, absent-input isolation, accumulated IoU, schedule, end-to-end run."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mce_data.nuscenes_grid import BEVGrid
from mce_data.sample import Sample
from mce_train import benchmarks, cli
from mce_train.benchmarks.nuscenes import NUSCENES_BENCHMARK, BEVView, bev_bce, bev_iou
from mce_train.benchmarks.nuscenes import models as nuscenes
from mce_train.benchmarks.nuscenes.camera import lift_to_bev
from mce_train.benchmarks.nuscenes.metrics import IGNORE, BEVIoUMetric
from mce_train.schedule import onecycle_lr

GRID = BEVGrid(x_bounds=(-8.0, 8.0), y_bounds=(-8.0, 8.0), z_bounds=(-4.5, 5.5), cell=1.0, z_bins=8)
HEIGHT, WIDTH, FOCAL = 9, 16, 8.0
K = np.array([[FOCAL, 0.0, WIDTH / 2], [0.0, FOCAL, HEIGHT / 2], [0.0, 0.0, 1.0]])
# A front camera: camera x (right) = ego -y, camera y (down) = ego -z, camera z (forward) = ego x.
FRONT = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
MOUNT = np.array([1.5, 0.05, 1.125])  # off-centre by 5 cm: no voxel projects onto a pixel edge
ROW, COL = 4, 8  # the bright pixel


@pytest.fixture
def one_camera() -> dict[str, torch.Tensor]:
    """Six cameras, only camera 1 present (a bright pixel); the absent ones hold random images and calibration."""
    generator = torch.Generator().manual_seed(0)
    features = torch.rand(1, 6, 1, HEIGHT, WIDTH, generator=generator) * 100
    features[0, 1] = 0.0
    features[0, 1, 0, ROW, COL] = 1.0
    pose = torch.rand(1, 6, 4, 4, generator=generator) * 10
    pose[0, 1] = torch.eye(4)
    pose[0, 1, :3, :3] = torch.from_numpy(FRONT)
    pose[0, 1, :3, 3] = torch.from_numpy(MOUNT)
    intrinsics = torch.rand(1, 6, 3, 3, generator=generator) * 10
    intrinsics[0, 1] = torch.from_numpy(K)
    present = torch.tensor([[False, True, False, False, False, False]])
    return {"features": features, "cam_to_ego": pose.float(), "intrinsics": intrinsics.float(), "present": present}


def _lift(camera: dict[str, torch.Tensor], mode: str) -> np.ndarray:
    out = lift_to_bev(
        camera["features"],
        camera["intrinsics"],
        camera["cam_to_ego"],
        camera["present"],
        (HEIGHT, WIDTH),
        GRID,
        mode=mode,
    )
    assert out.shape == (1, 1, GRID.z_bins, *GRID.shape)
    return out[0, 0].numpy()


def _pinhole_reference(kernel: str) -> np.ndarray:
    """Brute force over voxels: project each centre with the pinhole model, look the bright pixel up."""
    out = np.zeros((GRID.z_bins, *GRID.shape))
    for k in range(GRID.z_bins):
        for i in range(GRID.shape[0]):
            for j in range(GRID.shape[1]):
                p = np.array([-8.0 + i + 0.5, -8.0 + j + 0.5, -4.5 + (k + 0.5) * 1.25])
                cam = FRONT.T @ (p - MOUNT)
                if cam[2] <= 0.1:
                    continue
                u, v = FOCAL * cam[0] / cam[2] + WIDTH / 2, FOCAL * cam[1] / cam[2] + HEIGHT / 2
                if not (0 <= u < WIDTH and 0 <= v < HEIGHT):
                    continue
                if kernel == "nearest":
                    out[k, i, j] = float(math.floor(u) == COL and math.floor(v) == ROW)
                else:  # bilinear around the pixel centre (COL + 0.5, ROW + 0.5)
                    out[k, i, j] = max(0.0, 1 - abs(u - COL - 0.5)) * max(0.0, 1 - abs(v - ROW - 0.5))
    return out


def test_lifting_puts_the_pixel_on_its_ray(one_camera: dict[str, torch.Tensor]) -> None:
    nearest, bilinear = _lift(one_camera, "nearest"), _lift(one_camera, "bilinear")
    # By hand: the voxel centred at ego (7.5, -0.5, 1.125) is 6 m ahead of the camera, 0.55 m right, level:
    # u = 8 * 0.55 / 6 + 8 = 8.733 (column 8), v = 4.5 (row 4); bilinear weight 1 - (8.733 - 8.5).
    k, i, j = 4, 15, 7
    assert nearest[k, i, j] == 1.0
    assert bilinear[k, i, j] == pytest.approx(1 - (8 + 4.4 / 6 - 8.5), abs=1e-5)
    assert nearest[:, :9].sum() == 0  # nothing behind the camera (x < 1.5 m)
    np.testing.assert_allclose(nearest, _pinhole_reference("nearest"), atol=1e-6)
    np.testing.assert_allclose(bilinear, _pinhole_reference("bilinear"), atol=1e-5)
    # Along the ray only the voxels 5 m and 6 m ahead stay inside column 8 (4 m ahead: u = 8 + 4.4 / 4 = 9.1).
    assert sorted(map(tuple, np.argwhere(nearest).tolist())) == [(4, 14, 7), (4, 15, 7)]


def test_lifting_averages_over_the_cameras_that_see_a_voxel(one_camera: dict[str, torch.Tensor]) -> None:
    single = _lift(one_camera, "bilinear")
    twin = {name: value.clone() for name, value in one_camera.items()}
    for name in ("cam_to_ego", "intrinsics"):
        twin[name][0, 4] = twin[name][0, 1]
    twin["features"][0, 4] = 3 * twin["features"][0, 1]
    twin["present"][0, 4] = True
    np.testing.assert_allclose(_lift(twin, "bilinear"), 2 * single, atol=1e-5)  # mean of 1x and 3x


def _quick_batch(generator: torch.Generator) -> dict[str, torch.Tensor]:
    grid = BEVGrid(x_bounds=(-6.0, 6.0), y_bounds=(-6.0, 6.0), cell=1.0)
    pose = torch.eye(4).repeat(2, 6, 1, 1)
    for c in range(6):
        yaw = math.radians(60 * c)
        turn = torch.tensor([[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0], [0, 0, 1.0]])
        pose[:, c, :3, :3] = turn @ torch.from_numpy(FRONT).float()
        pose[:, c, :3, 3] = torch.tensor([0.0, 0.0, 1.5])
    del grid
    return {
        "camera": torch.rand(2, 6, 3, 16, 24, generator=generator),
        "lidar": (torch.rand(2, 8, 12, 12, generator=generator) > 0.9).float(),
        "radar": torch.rand(2, 4, 12, 12, generator=generator),
        "intrinsics": torch.tensor([[12.0, 0, 12], [0, 12, 8], [0, 0, 1]]).repeat(2, 6, 1, 1),
        "cam_to_ego": pose,
        "camera_present": torch.tensor([[True, True, False, True, True, True], [True] * 6]),
    }


def test_absent_cameras_and_modalities_cannot_change_the_output() -> None:
    torch.manual_seed(0)
    grid = BEVGrid(x_bounds=(-6.0, 6.0), y_bounds=(-6.0, 6.0), cell=1.0)
    model = nuscenes.network(grid, radar_channels=4, dim=8, hidden=8, image_channels=4).eval()
    generator = torch.Generator().manual_seed(1)
    data = _quick_batch(generator)
    present = torch.tensor([[True, False, True], [True, True, False]])  # sample 0 lacks LiDAR, sample 1 radar

    def predict(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {name: batch[name] for name in nuscenes.MODALITIES}
        extras = {name: batch[name] for name in ("intrinsics", "cam_to_ego", "camera_present")}
        with torch.no_grad():
            return model(inputs, present, extras=extras)  # type: ignore[no-any-return]

    reference = predict(data)
    assert reference.shape == (2, 1, 12, 12)
    changed = {name: value.clone() for name, value in data.items()}
    changed["lidar"][0] = torch.rand(8, 12, 12, generator=generator) * 50
    changed["radar"][1] = torch.rand(4, 12, 12, generator=generator) * 50
    changed["camera"][0, 2] = torch.rand(3, 16, 24, generator=generator)
    changed["cam_to_ego"][0, 2] = torch.rand(4, 4, generator=generator)
    changed["intrinsics"][0, 2] = torch.rand(3, 3, generator=generator)
    torch.testing.assert_close(predict(changed), reference)
    # ... while a present camera does change it (so the check above could fail).
    changed["camera"][0, 1] = torch.rand(3, 16, 24, generator=generator)
    assert not torch.allclose(predict(changed)[0], reference[0])


def test_iou_metric_accumulates_intersections_and_unions() -> None:
    logits = torch.tensor(
        [
            [[[2.0, 2.0, -1.0], [-1.0, -1.0, -1.0]]],  # predicts 2 cells
            [[[2.0, -1.0, 2.0], [2.0, 2.0, -3.0]]],  # predicts 4 cells, one on an ignored cell
        ]
    )
    target = torch.tensor([[[1, 0, 0], [0, 0, 0]], [[1, 1, IGNORE], [1, 1, 0]]])
    # Sample 0: I = 1, U = 2.  Sample 1 (ignored cell left out): I = 3, U = 4.
    metric = BEVIoUMetric()
    metric.update(logits[:1], target[:1])
    metric.update(logits[1:], target[1:])
    assert metric.compute()["iou"] == pytest.approx(100 * (1 + 3) / (2 + 4))  # 66.67, not mean(50, 75) = 62.5
    torch.testing.assert_close(bev_iou(logits, target), torch.tensor([0.5, 0.75]))
    empty = BEVIoUMetric()
    empty.update(torch.full((1, 1, 2, 3), -1.0), torch.zeros(1, 2, 3, dtype=torch.long))
    assert empty.compute()["iou"] == 100.0


def test_task_loss_ignores_invalid_cells() -> None:
    logits = torch.tensor([[[[0.5, -2.0], [30.0, -30.0]]]])
    target = torch.tensor([[[1, 0], [IGNORE, IGNORE]]])
    expected = (2.13 * math.log1p(math.exp(-0.5)) + math.log1p(math.exp(-2.0))) / 2  # pos_weight on the vehicle
    assert bev_bce(logits, target).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("total", [1, 2, 19, 21, 40, 200])
def test_onecycle_matches_torch(total: int) -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=3e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, 3e-4, total, pct_start=0.05, cycle_momentum=False, anneal_strategy="linear"
    )
    for step in range(total):
        assert onecycle_lr(3e-4, step, total) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-9, abs=1e-15)
        optimizer.step()
        scheduler.step()


def test_onecycle_whose_warmup_ends_at_step_zero_starts_at_the_peak() -> None:
    rates = [onecycle_lr(3e-4, step, 20) for step in range(20)]  # 0.05 * 20 - 1 == 0: torch divides 0 by 0
    assert rates[0] == pytest.approx(3e-4, rel=1e-12)
    assert all(later < earlier for earlier, later in itertools.pairwise(rates))
    assert rates[-1] == pytest.approx(3e-4 / 25 / 1e4, rel=1e-9)


def test_view_keeps_points_in_their_cells() -> None:
    grid, view = BEVGrid(), BEVView(cells=96, pool=3, image_pool=4)
    small = view.grid(grid)
    assert small.shape == (32, 32)
    assert small.x_bounds == (-24.0, 24.0)
    assert small.cell == 1.5
    point = np.array([[3.2], [-11.7], [0.0]])
    i, j, _ = grid.cell_index(point[:2])
    lidar = torch.zeros(8, 200, 200)
    lidar[3, int(i[0]), int(j[0])] = 1.0
    target = torch.zeros(200, 200, dtype=torch.long)
    extras = {
        "valid": torch.ones(200, 200, dtype=torch.bool),
        "intrinsics": torch.tensor([[[100.0, 0, 200], [0, 100, 112], [0, 0, 1]]]).repeat(6, 1, 1),
        "cam_to_ego": torch.eye(4).repeat(6, 1, 1),
        "camera_present": torch.ones(6, dtype=torch.bool),
    }
    inputs = {"camera": torch.rand(6, 3, 224, 400), "lidar": lidar, "radar": torch.zeros(4, 200, 200)}
    out = view(Sample("s", inputs, (True, True, True), target, extras))
    si, sj, inside = small.cell_index(point[:2])
    assert bool(inside[0])
    assert out.inputs["lidar"].nonzero().tolist() == [[3, int(si[0]), int(sj[0])]]
    assert out.inputs["camera"].shape == (6, 3, 56, 100)
    assert out.extras is not None
    torch.testing.assert_close(out.extras["intrinsics"][0], torch.tensor([[25.0, 0, 50], [0, 25, 28], [0, 0, 1]]))


def test_quick_run_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(benchmarks.BENCHMARKS, "nuscenes", NUSCENES_BENCHMARK)
    (tmp_path / "nodata").mkdir()
    out = tmp_path / "out"
    argv = [
        "--benchmark",
        "nuscenes",
        "--quick",
        "--out",
        str(out),
        "--data",
        str(tmp_path / "nodata"),
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "iou"
    run = results["per_seed"][0]
    assert "SYNTHETIC" in run["data"]
    expected = {"camera", "lidar", "radar", "camera+lidar", "camera+radar", "lidar+radar", "camera+lidar+radar"}
    for method in ("baseline", "mce"):
        test = run["methods"][method]["test"]
        assert set(test) == expected
        assert all(0.0 <= scores["iou"] <= 100.0 for scores in test.values())
