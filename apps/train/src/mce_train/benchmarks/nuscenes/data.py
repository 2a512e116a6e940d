"""The nuScenes benchmark: vehicle BEV segmentation from camera (C), LiDAR (L) and radar (R).

Data. Real data is an HDF5 cache ``<data>/nuscenes/nuscenes_bev.h5`` read with
:class:`mce_data.NuScenesBEV`. Make it once from the devkit tables (see ``mce_data.nuscenes.LAYOUT_HELP``)::

    from nuscenes.nuscenes import NuScenes
    from nuscenes.utils.splits import create_splits_scenes
    import json, mce_data
    nusc = NuScenes("v1.0-trainval", dataroot="<root>")
    mce_data.convert_to_hdf5(nusc, "<data>/nuscenes/nuscenes_bev.h5")
    scenes = create_splits_scenes()   # optional: the official split (the paper's), else see below
    train = mce_data.nuscenes.sample_tokens(nusc, scenes["train"])
    test = mce_data.nuscenes.sample_tokens(nusc, scenes["val"])
    cut = len(train) * 9 // 10        # model selection on held-out training scenes, never on test
    json.dump({"train": train[:cut], "val": train[cut:], "test": test}, open("<data>/nuscenes/splits.json", "w"))

Without ``splits.json`` the cached tokens (sorted by scene and time) are cut into contiguous blocks,
80 % train, 10 % validation, 10 % test. Without the cache, synthetic scenes are written with
:func:`mce_data.write_synthetic_nuscenes_hdf5` through the real conversion pipeline (the run says so).

Targets become ``Long[X, Y]`` with 1 vehicle, 0 background and :data:`~mce_train.benchmarks.nuscenes.metrics.IGNORE`
outside ``extras["valid"]``, so the task loss, the Shapley score and the metric all skip those cells.

Sizes. ``paper``: the 200×8×200 grid at 0.5 m, Table 1's 50k iterations at batch 1, AdamW, lr 3e-4.
``quick`` (CPU smoke runs, 32 / 8 / 8 samples): a 32×8×32 grid of 1.5 m cells over ±24 m and
24×40 images; synthetic data is written at that size directly, real data is cropped to its central
96×96 cells, pooled 3×3 (LiDAR occupancy, vehicle: max; radar: mean; valid: min) and its images 4×4
(mean, intrinsics scaled).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional

from mce_data import NuScenesBEV
from mce_data.nuscenes import BEVConfig
from mce_data.nuscenes_grid import BEVGrid
from mce_data.sample import Sample
from mce_data.synthetic_nuscenes import write_synthetic_nuscenes_hdf5
from mce_train.benchmarks.base import Splits
from mce_train.benchmarks.nuscenes import models as nuscenes
from mce_train.benchmarks.nuscenes.metrics import IGNORE
from mce_train.caching import write_once

QUICK_GRID = BEVGrid(x_bounds=(-24.0, 24.0), y_bounds=(-24.0, 24.0), cell=1.5)
QUICK_IMAGE_SIZE = (24, 40)
PAPER_SYNTHETIC_IMAGE_SIZE = (112, 200)


@dataclass(frozen=True)
class BEVView:
    """A smaller view of 200×200 BEV samples: the central ``cells``×``cells`` window, pooled ``pool``×``pool``.

    Images are mean-pooled ``image_pool``×``image_pool`` and their intrinsics scaled to match.
    """

    cells: int = 96
    pool: int = 3
    image_pool: int = 4

    def grid(self, grid: BEVGrid) -> BEVGrid:
        """The grid of the view (the same ego frame; larger cells, smaller span)."""
        nx, ny = grid.shape
        if self.cells > min(nx, ny) or self.cells % self.pool:
            raise ValueError(f"cells must be <= {min(nx, ny)} and divisible by pool {self.pool}; got {self.cells}")
        x0 = grid.x_bounds[0] + (nx - self.cells) // 2 * grid.cell
        y0 = grid.y_bounds[0] + (ny - self.cells) // 2 * grid.cell
        span = self.cells * grid.cell
        return replace(grid, x_bounds=(x0, x0 + span), y_bounds=(y0, y0 + span), cell=grid.cell * self.pool)

    def __call__(self, sample: Sample) -> Sample:
        def crop(x: Tensor) -> Tensor:
            i, j = (x.shape[-2] - self.cells) // 2, (x.shape[-1] - self.cells) // 2
            return x[..., i : i + self.cells, j : j + self.cells]

        def max_pool(x: Tensor) -> Tensor:
            return functional.max_pool2d(crop(x).float().unsqueeze(0), self.pool).squeeze(0)

        extras = dict(sample.extras or {})
        inputs = {
            "camera": functional.avg_pool2d(sample.inputs["camera"], self.image_pool),
            "lidar": max_pool(sample.inputs["lidar"]),
            "radar": functional.avg_pool2d(crop(sample.inputs["radar"]).unsqueeze(0), self.pool).squeeze(0),
        }
        extras["intrinsics"] = (
            torch.diag(torch.tensor([1 / self.image_pool, 1 / self.image_pool, 1.0])) @ extras["intrinsics"]
        )
        extras["valid"] = -max_pool(-extras["valid"].float()) > 0.5
        return Sample(sample.id, inputs, sample.available, max_pool(sample.target).long(), extras)


def grid_of(config: dict[str, Any]) -> BEVGrid:
    """The :class:`BEVGrid` of a cache's stored ``config`` (``NuScenesBEV(...).config``)."""
    grid = dict(config["grid"])

    def bounds(name: str) -> tuple[float, float]:
        low, high = grid[name]
        return float(low), float(high)

    return BEVGrid(
        x_bounds=bounds("x_bounds"),
        y_bounds=bounds("y_bounds"),
        z_bounds=bounds("z_bounds"),
        cell=float(grid["cell"]),
        z_bins=int(grid["z_bins"]),
    )


class NuScenesSplit:
    """One split of a BEV cache, with :data:`IGNORE` targets, optionally viewed smaller and held in memory.

    Attributes:
        grid: the BEV grid of the samples it returns.
    """

    modalities: tuple[str, ...] = nuscenes.MODALITIES

    def __init__(self, path: Path, tokens: list[str], *, view: BEVView | None = None, preload: bool = False) -> None:
        self.base = NuScenesBEV(path, tokens)
        self.view = view
        grid = grid_of(self.base.config)
        self.grid = view.grid(grid) if view is not None else grid
        self._cache: list[Sample] | None = None
        if preload:
            self._cache = [self._load(i) for i in range(len(self.base))]

    def __len__(self) -> int:
        return len(self.base)

    def sample_ids(self) -> list[str]:
        return self.base.sample_ids()

    def _load(self, index: int) -> Sample:
        sample = self.base[index]
        if self.view is not None:
            sample = self.view(sample)
        extras = sample.extras or {}
        target = torch.where(extras["valid"], sample.target, torch.full_like(sample.target, IGNORE))
        return Sample(sample.id, sample.inputs, sample.available, target, extras)

    def __getitem__(self, index: int) -> Sample:
        return self._cache[index] if self._cache is not None else self._load(index)


def _split_tokens(root: Path, tokens: list[str]) -> dict[str, list[str]]:
    listed = root / "splits.json"
    if listed.is_file():
        splits: dict[str, list[str]] = json.loads(listed.read_text())
        if set(splits) != {"train", "val", "test"}:
            raise ValueError(f"{listed} must hold the keys train, val and test; got {sorted(splits)}")
        return splits
    a, b = len(tokens) * 8 // 10, len(tokens) * 9 // 10
    return {"train": tokens[:a], "val": tokens[a:b], "test": tokens[b:]}


def nuscenes_splits(data: Path, cache: Path, seed: int, size: str) -> Splits:
    """The real cache under ``data/nuscenes`` when present, else a synthetic cache written under ``cache``."""
    del seed
    quick = size == "quick"
    path, view = data / "nuscenes" / "nuscenes_bev.h5", BEVView() if quick else None
    source = f"real nuScenes BEV cache {path}"
    if not path.is_file():
        view = None
        image_size = QUICK_IMAGE_SIZE if quick else PAPER_SYNTHETIC_IMAGE_SIZE
        config = BEVConfig(grid=QUICK_GRID if quick else BEVGrid(), image_size=image_size)
        root = write_once(
            cache / ("synthetic-nuscenes-quick" if quick else "synthetic-nuscenes"),
            lambda folder: write_synthetic_nuscenes_hdf5(
                folder, 48 if quick else 400, seed=0, image_size=image_size, config=config
            ),
        )
        path = root / "nuscenes_bev.h5"
        source = (
            f"SYNTHETIC nuScenes scenes converted to a BEV cache in {path} (no {data / 'nuscenes' / 'nuscenes_bev.h5'})"
        )
    splits = _split_tokens(path.parent, NuScenesBEV(path).sample_ids())
    if quick:
        splits = {name: tokens[:limit] for (name, tokens), limit in zip(splits.items(), (32, 8, 8), strict=True)}
    train, val, test = (
        NuScenesSplit(path, splits[name], view=view, preload=quick) for name in ("train", "val", "test")
    )
    return Splits(train, val, test, source)
