"""The BraTS2020 benchmark: brain-tumour segmentation from FLAIR, T1, T1ce and T2 MRI (paper Sec. 4.1-4.2).

* :mod:`~mce_train.benchmarks.brats.data`: mmFormer's ``.npy`` layout, the NIfTI tree, the stand-in cases or
  synthetic volumes; the paper's case split; fresh training crops;
* :mod:`~mce_train.benchmarks.brats.models` and :mod:`~mce_train.benchmarks.brats.blocks`: the 3-D U-Net
  encoders, completion on the bottleneck, mmFormer-style fusion and decoder;
* :mod:`~mce_train.benchmarks.brats.losses`, :mod:`~mce_train.benchmarks.brats.metrics` and
  :mod:`~mce_train.benchmarks.brats.predictors`: Dice + CE, region Dice, sliding-window inference;
* :mod:`~mce_train.benchmarks.brats.recipe`: the schedule, the loss weights and the default rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mce_data.brats import MODALITIES
from mce_train.benchmarks.base import Benchmark, Splits
from mce_train.benchmarks.brats import models as brats
from mce_train.benchmarks.brats.data import brats_splits, split_cases
from mce_train.benchmarks.brats.losses import dice_cross_entropy, mean_region_dice
from mce_train.benchmarks.brats.metrics import RegionDiceMetric
from mce_train.benchmarks.brats.predictors import (
    sliding_window_each_subset,
    sliding_window_predictor,
    sliding_window_unimodal,
)
from mce_train.benchmarks.brats.recipe import DEFAULT_RATES, recipe
from mce_train.network import MultiModalNet


def brats_build(model: Mapping[str, Any], splits: Splits) -> MultiModalNet:
    """The network of the recipe's ``model`` section on the splits' training crops."""
    config = brats.BraTSConfig(channels=tuple(model["channels"]), patch=splits.train.crop_size, heads=model["heads"])
    return brats.build_network(config, completion_depth=model["completion_depth"])


BRATS_BENCHMARK = Benchmark(
    name="brats",
    modalities=MODALITIES,
    build=brats_build,
    recipe=recipe,
    splits=brats_splits,
    task_loss=dice_cross_entropy,
    score=mean_region_dice,
    metric=RegionDiceMetric,
    selection="dice",
    default_rates=DEFAULT_RATES,
    mask_style="combinations",  # Jun-Jie-Shi/PASSION code/preprocessing/generate_imb_mr.py: per-pattern counts
    predictor=sliding_window_predictor,
    unimodal_predictor=sliding_window_unimodal,
)

__all__ = [
    "BRATS_BENCHMARK",
    "brats_build",
    "brats_splits",
    "dice_cross_entropy",
    "mean_region_dice",
    "sliding_window_each_subset",
    "sliding_window_predictor",
    "sliding_window_unimodal",
    "split_cases",
]
