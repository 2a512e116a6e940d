"""The nuScenes benchmark: vehicle BEV segmentation from camera (C), LiDAR (L) and radar (R).

* :mod:`~mce_train.benchmarks.nuscenes.data`: the HDF5 BEV cache (or synthetic scenes through the real
  conversion), splits and the quick-size view;
* :mod:`~mce_train.benchmarks.nuscenes.models` and :mod:`~mce_train.benchmarks.nuscenes.camera`: the encoders
  (the camera lifted to BEV with the calibration), completion per BEV cell, the BEV head;
* :mod:`~mce_train.benchmarks.nuscenes.losses` and :mod:`~mce_train.benchmarks.nuscenes.metrics`: BCE, per-sample
  IoU, the dataset IoU;
* :mod:`~mce_train.benchmarks.nuscenes.recipe`: the schedule, the loss weights and the default rates.
"""

from __future__ import annotations

from mce_data.nuscenes_grid import BEVGrid
from mce_train.benchmarks.base import Benchmark, Splits
from mce_train.benchmarks.nuscenes import models as nuscenes
from mce_train.benchmarks.nuscenes.data import BEVView, nuscenes_splits
from mce_train.benchmarks.nuscenes.losses import bev_bce, bev_iou
from mce_train.benchmarks.nuscenes.metrics import BEVIoUMetric
from mce_train.benchmarks.nuscenes.recipe import DEFAULT_RATES, LAMBDAS, schedule
from mce_train.network import MultiModalNet


def nuscenes_build(size: str, splits: Splits) -> MultiModalNet:
    grid: BEVGrid = splits.train.grid
    radar_channels = int(splits.train[0].inputs["radar"].shape[0])
    if size == "quick":
        return nuscenes.network(grid, radar_channels, dim=8, hidden=8, image_channels=4)
    return nuscenes.network(grid, radar_channels, dim=64, hidden=64, image_channels=64)


NUSCENES_BENCHMARK = Benchmark(
    name="nuscenes",
    modalities=nuscenes.MODALITIES,
    build=nuscenes_build,
    schedule=schedule,
    splits=nuscenes_splits,
    task_loss=bev_bce,
    score=bev_iou,
    metric=BEVIoUMetric,
    selection="iou",
    default_rates=DEFAULT_RATES,
    lambdas=LAMBDAS,
)

__all__ = ["NUSCENES_BENCHMARK", "BEVView", "bev_bce", "bev_iou"]
