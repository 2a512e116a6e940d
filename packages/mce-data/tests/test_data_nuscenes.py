"""nuScenes through the real devkit on a tiny dataset in its table format; the HDF5 cache; bad input."""

from __future__ import annotations

import doctest
import importlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mce_data.nuscenes import CAMERAS, LAYOUT_HELP, RADARS, BEVConfig, NuScenesBEVLive, rasterise_sample, sample_tokens
from mce_data.nuscenes_cache import NuScenesBEV, convert_to_hdf5
from mce_data.nuscenes_grid import BEVGrid
from mce_data.sample import MultiModalDataset
from mce_data.synthetic_nuscenes import write_synthetic_nuscenes

devkit = pytest.importorskip(
    "nuscenes.nuscenes", reason="nuscenes-devkit is not installed (see mce_data.nuscenes.LAYOUT_HELP)"
)
geometry = importlib.import_module("nuscenes.utils.geometry_utils")
data_classes = importlib.import_module("nuscenes.utils.data_classes")
mpl_path = importlib.import_module("matplotlib.path")
pyquaternion = importlib.import_module("pyquaternion")

SMALL = BEVConfig(image_size=(18, 32))


@pytest.fixture(scope="module")
def dataroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_nuscenes(
        tmp_path_factory.mktemp("nuscenes"), n_scenes=2, samples_per_scene=2, seed=4, vehicles=5
    )


@pytest.fixture(scope="module")
def nusc(dataroot: Path) -> Any:
    return devkit.NuScenes(version="v1.0-mini", dataroot=str(dataroot), verbose=False)


def _ego_from_global(nusc: Any, sample: dict[str, Any]) -> np.ndarray:
    pose = nusc.get("ego_pose", nusc.get("sample_data", sample["data"]["LIDAR_TOP"])["ego_pose_token"])
    return np.asarray(
        geometry.transform_matrix(pose["translation"], pyquaternion.Quaternion(pose["rotation"]), inverse=True)
    )


def _reference_footprints(nusc: Any, sample: dict[str, Any], visibility: str | None = None) -> np.ndarray:
    """Union of vehicle footprints by the devkit's Box and matplotlib's point-in-polygon test."""
    pose = nusc.get("ego_pose", nusc.get("sample_data", sample["data"]["LIDAR_TOP"])["ego_pose_token"])
    xs, ys = BEVGrid().centres()
    centres = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1).reshape(-1, 2)
    out = np.zeros(200 * 200, dtype=bool)
    for token in sample["anns"]:
        ann = nusc.get("sample_annotation", token)
        if not ann["category_name"].startswith("vehicle.") or (visibility and ann["visibility_token"] != visibility):
            continue
        box = data_classes.Box(ann["translation"], ann["size"], pyquaternion.Quaternion(ann["rotation"]))
        box.translate(-np.array(pose["translation"]))
        box.rotate(pyquaternion.Quaternion(pose["rotation"]).inverse)
        out |= mpl_path.Path(box.bottom_corners()[:2].T).contains_points(centres)
    return out.reshape(200, 200)


@pytest.mark.parametrize("name", ["mce_data.nuscenes_cache"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_devkit_reads_the_synthetic_tables(nusc: Any) -> None:
    assert len(nusc.sample) == 4
    assert len(nusc.scene) == 2
    sample = nusc.sample[0]
    assert set(sample["data"]) == {*CAMERAS, "LIDAR_TOP", *RADARS}
    assert {nusc.get("sample_annotation", a)["category_name"] for a in sample["anns"]} == {
        "vehicle.car",
        "human.pedestrian.adult",
    }
    assert (
        data_classes.LidarPointCloud.from_file(nusc.get_sample_data_path(sample["data"]["LIDAR_TOP"])).points.shape[0]
        == 4
    )


def test_vehicle_target_and_validity_match_the_devkit_boxes(nusc: Any) -> None:
    for sample in nusc.sample:
        arrays = rasterise_sample(nusc, sample["token"], SMALL)
        reference = _reference_footprints(nusc, sample)
        assert reference.sum() > 50
        assert np.mean(arrays["vehicle"] != reference) < 2e-4  # at most a few boundary cells differ
        hidden = _reference_footprints(nusc, sample, visibility="1")
        assert np.mean((~arrays["valid"]) != hidden) < 2e-4


def test_lidar_occupancy_matches_points_transformed_by_the_devkit(nusc: Any, dataroot: Path) -> None:
    sample = nusc.sample[1]
    record = nusc.get("sample_data", sample["data"]["LIDAR_TOP"])
    scan = np.fromfile(dataroot / record["filename"], dtype=np.float32).reshape(-1, 5)[:, :3].T.astype(np.float64)
    scan = scan[:, ~((np.abs(scan[0]) < 2.2) & (np.abs(scan[1]) < 2.2))]
    sensor = nusc.get("calibrated_sensor", record["calibrated_sensor_token"])
    car_from_sensor = geometry.transform_matrix(sensor["translation"], pyquaternion.Quaternion(sensor["rotation"]))
    points = (car_from_sensor @ np.vstack([scan, np.ones(scan.shape[1])]))[:3]
    expected = set()
    for x, y, z in points.T:
        i, j, k = int(np.floor((x + 50) / 0.5)), int(np.floor((y + 50) / 0.5)), int(np.floor((z + 4.5) / 1.25))
        if 0 <= i < 200 and 0 <= j < 200 and 0 <= k < 8:
            expected.add((k, i, j))
    lidar = rasterise_sample(nusc, sample["token"], SMALL)["lidar"]
    found = set(zip(*[a.tolist() for a in np.nonzero(lidar)], strict=False))
    assert len(found ^ expected) <= 2
    assert len(expected) > 300


def test_radar_channels_sum_the_returns_of_all_five_radars(nusc: Any) -> None:
    sample = nusc.sample[2]
    count, rcs_sum = 0, 0.0
    for channel in RADARS:
        record = nusc.get("sample_data", sample["data"][channel])
        cloud = data_classes.RadarPointCloud.from_file(
            nusc.get_sample_data_path(record["token"]),
            invalid_states=range(18),
            dynprop_states=range(8),
            ambig_states=range(5),
        )
        sensor = nusc.get("calibrated_sensor", record["calibrated_sensor_token"])
        cloud.rotate(pyquaternion.Quaternion(sensor["rotation"]).rotation_matrix)
        cloud.translate(np.array(sensor["translation"]))
        inside = (np.abs(cloud.points[0]) < 50) & (np.abs(cloud.points[1]) < 50)
        count += int(inside.sum())
        rcs_sum += float(cloud.points[5, inside].sum())
    radar = rasterise_sample(nusc, sample["token"], SMALL)["radar"]
    assert radar.shape == (4, 200, 200)
    assert radar[0].sum() == count
    assert np.isclose((radar[0] * radar[1]).sum(), rcs_sum, rtol=1e-4)


def test_cameras_resized_with_scaled_intrinsics_and_extrinsics(nusc: Any, dataroot: Path) -> None:
    sample = nusc.sample[0]
    arrays = rasterise_sample(nusc, sample["token"], SMALL)
    assert arrays["camera"].shape == (6, 3, 18, 32)
    assert arrays["camera"].dtype == np.uint8
    front = nusc.get("sample_data", sample["data"]["CAM_FRONT"])
    sensor = nusc.get("calibrated_sensor", front["calibrated_sensor_token"])
    k = np.array(sensor["camera_intrinsic"])
    np.testing.assert_allclose(arrays["intrinsics"][1], np.diag([32 / 80, 18 / 45, 1.0]) @ k, rtol=1e-6)
    expected = geometry.transform_matrix(sensor["translation"], pyquaternion.Quaternion(sensor["rotation"]))
    np.testing.assert_allclose(arrays["cam_to_ego"][1], expected, atol=1e-5)
    # the front camera looks along ego +x: its optical axis (camera z) maps to ego x
    np.testing.assert_allclose(arrays["cam_to_ego"][1][:3, 2], [1.0, 0.0, 0.0], atol=1e-6)


def test_cache_round_trip_equals_live_rasterisation(nusc: Any, tmp_path: Path) -> None:
    live = NuScenesBEVLive(nusc, config=SMALL)
    assert isinstance(live, MultiModalDataset)
    assert live.sample_ids() == sample_tokens(nusc)
    assert len(live) == 4
    path = convert_to_hdf5(nusc, tmp_path / "bev.h5", config=SMALL)
    cached = NuScenesBEV(path)
    assert cached.sample_ids() == live.sample_ids()
    for index in range(len(live)):
        a, b = live[index], cached[index]
        assert a.id == b.id
        assert a.available == b.available == (True, True, True)
        assert all(torch.equal(a.inputs[m], b.inputs[m]) for m in ("camera", "lidar", "radar"))
        assert torch.equal(a.target, b.target)
        assert a.target.dtype == torch.int64
        assert a.extras is not None
        assert b.extras is not None
        assert all(torch.equal(a.extras[k], b.extras[k]) for k in a.extras)
    subset = NuScenesBEV(path, tokens=live.sample_ids()[2:])
    assert len(subset) == 2
    assert subset[0].id == live.sample_ids()[2]
    clone = pickle.loads(pickle.dumps(cached))
    assert torch.equal(clone[1].inputs["radar"], cached[1].inputs["radar"])
    with pytest.raises(ValueError, match="tokens not in the cache"):
        NuScenesBEV(path, tokens=["nope"])


def test_missing_sensors_are_flagged_missing_modalities(dataroot: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(dataroot, copy)
    table = copy / "v1.0-mini" / "sample_data.json"
    records = json.loads(table.read_text())
    first = json.loads((copy / "v1.0-mini" / "sample.json").read_text())[0]["token"]
    dropped = {"LIDAR_TOP", *RADARS, "CAM_BACK"}
    records = [
        r for r in records if not (r["sample_token"] == first and any(f"/{c}/" in r["filename"] for c in dropped))
    ]
    table.write_text(json.dumps(records))
    nusc = devkit.NuScenes(version="v1.0-mini", dataroot=str(copy), verbose=False)
    sample = NuScenesBEVLive(nusc, [first], SMALL)[0]
    assert sample.available == (True, False, False)
    assert torch.count_nonzero(sample.inputs["lidar"]) == 0
    assert sample.inputs["lidar"].shape == (8, 200, 200)
    assert torch.count_nonzero(sample.inputs["radar"]) == 0
    assert sample.inputs["radar"].shape == (4, 200, 200)
    assert sample.extras is not None
    assert sample.extras["camera_present"].tolist() == [
        True,
        True,
        True,
        True,
        False,
        True,
    ]
    assert torch.count_nonzero(sample.inputs["camera"][4]) == 0
    assert sample.target.sum() > 0  # the boxes do not depend on the sensors


def test_bad_sensor_files_raise_with_their_name(dataroot: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(dataroot, copy)
    nusc = devkit.NuScenes(version="v1.0-mini", dataroot=str(copy), verbose=False)
    sample = nusc.sample[0]
    lidar = copy / nusc.get("sample_data", sample["data"]["LIDAR_TOP"])["filename"]
    lidar.write_bytes(lidar.read_bytes()[:-7])
    with pytest.raises(ValueError, match=f"{lidar.name}: not a readable lidar point cloud"):
        rasterise_sample(nusc, sample["token"], SMALL)
    lidar.unlink()
    with pytest.raises(FileNotFoundError, match=f"{lidar.name}: the LIDAR_TOP file"):
        rasterise_sample(nusc, sample["token"], SMALL)
    other = nusc.sample[1]
    radar = copy / nusc.get("sample_data", other["data"]["RADAR_FRONT"])["filename"]
    radar.write_bytes(b"# .PCD v0.7\nVERSION 0.7\nnonsense\n")
    with pytest.raises(ValueError, match=f"{radar.name}: not a readable radar point cloud"):
        rasterise_sample(nusc, other["token"], SMALL)
    image = copy / nusc.get("sample_data", nusc.sample[2]["data"]["CAM_FRONT"])["filename"]
    image.write_bytes(image.read_bytes()[:50])
    with pytest.raises(ValueError, match=f"{image.name}: not a readable image"):
        rasterise_sample(nusc, nusc.sample[2]["token"], SMALL)
    annotation = next(nusc.get("sample_annotation", a) for a in nusc.sample[3]["anns"])
    annotation["size"] = [0.0, 4.0, 1.5]
    annotation["category_name"] = "vehicle.car"
    with pytest.raises(ValueError, match=f"sample_annotation {annotation['token']}: size must be 3 positive"):
        rasterise_sample(nusc, nusc.sample[3]["token"], SMALL)


def test_bad_cache_files(tmp_path: Path) -> None:
    (tmp_path / "junk.h5").write_bytes(b"junk" * 100)
    with pytest.raises(ValueError, match=r"junk\.h5: not a readable HDF5"):
        NuScenesBEV(tmp_path / "junk.h5")
    h5py = importlib.import_module("h5py")
    with h5py.File(tmp_path / "other.h5", "w") as file:
        file.attrs["format"] = "something else"
    with pytest.raises(ValueError, match=r"other\.h5: not a nuScenes BEV cache"):
        NuScenesBEV(tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError) as info:
        NuScenesBEV(tmp_path / "absent.h5")
    assert LAYOUT_HELP in str(info.value)


def test_informativeness_controls_what_each_sensor_sees(tmp_path: Path) -> None:
    def vehicle_hit_rate(informativeness: dict[str, float]) -> tuple[float, float, float]:
        root = write_synthetic_nuscenes(
            tmp_path / str(sorted(informativeness.items())), informativeness=informativeness, seed=9
        )
        nusc = devkit.NuScenes(version="v1.0-mini", dataroot=str(root), verbose=False)
        arrays = rasterise_sample(nusc, nusc.sample[0]["token"], SMALL)
        cars = arrays["vehicle"]
        lidar = arrays["lidar"].max(0)
        rcs = arrays["radar"][1]
        return float(lidar[cars].mean()), float(lidar[~cars].mean()), float(rcs[cars].max())

    lidar_in, lidar_out, rcs = vehicle_hit_rate({"lidar": 1.0, "radar": 1.0})
    assert lidar_in > 0.3 > 0.05 > lidar_out
    assert rcs > 10
    lidar_in, lidar_out, rcs = vehicle_hit_rate({"lidar": 0.0, "radar": 0.0})
    assert lidar_in < 0.1
    assert rcs < 10
