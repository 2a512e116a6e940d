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

from collections.abc import Mapping
from typing import Any

from mce_data.nuscenes_grid import BEVGrid
from mce_train.benchmarks.base import Benchmark, Splits
from mce_train.benchmarks.nuscenes import models as nuscenes
from mce_train.benchmarks.nuscenes.data import BEVView, nuscenes_splits
from mce_train.benchmarks.nuscenes.losses import bev_bce, bev_iou
from mce_train.benchmarks.nuscenes.metrics import BEVIoUMetric
from mce_train.benchmarks.nuscenes.recipe import DEFAULT_RATES, recipe
from mce_train.network import MultiModalNet


def nuscenes_build(model: Mapping[str, Any], splits: Splits) -> MultiModalNet:
    """The network of the recipe's ``model`` section on the splits' BEV grid."""
    grid: BEVGrid = splits.train.grid
    radar_channels = int(splits.train[0].inputs["radar"].shape[0])
    return nuscenes.network(
        grid,
        radar_channels,
        dim=model["dim"],
        hidden=model["hidden"],
        image_channels=model["image_channels"],
        completion_depth=model["completion_depth"],
        heads=model["completion_heads"],
        completion_ffn=model["completion_ffn"],
        completion_dropout=model["completion_dropout"],
    )


NUSCENES_BENCHMARK = Benchmark(
    name="nuscenes",
    modalities=nuscenes.MODALITIES,
    build=nuscenes_build,
    recipe=recipe,
    splits=nuscenes_splits,
    task_loss=bev_bce,
    score=bev_iou,
    metric=BEVIoUMetric,
    selection="iou",
    default_rates=DEFAULT_RATES,
    mask_style="counts",  # byzhaoAI/MCE scene_seg/nuscenesdataset.py missing_pattern; its CSVs: --masks FILE
)

__all__ = ["NUSCENES_BENCHMARK", "BEVView", "bev_bce", "bev_iou"]
