"""nuScenes loader throughput (samples/s): rasterised on access vs read from the HDF5 cache.

    python packages/mce-data/perf/bench_data_nuscenes.py [--dataroot NUSCENES --version v1.0-mini]

Needs nuscenes-devkit. Uses ``--dataroot`` when given, otherwise a synthetic dataset in the devkit's
table format with ``--source-size`` camera images (real nuScenes: 900×1600). Rows: loading the
tables, :class:`mce_data.nuscenes.NuScenesBEVLive` (cameras decoded and resized, point clouds read
and rasterised every time), the one-off :func:`mce_data.nuscenes_cache.convert_to_hdf5`, and
:class:`mce_data.nuscenes_cache.NuScenesBEV` reading the cache.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mce_data._optional import require
from mce_data.nuscenes import BEVConfig, NuScenesBEVLive
from mce_data.nuscenes_cache import NuScenesBEV, convert_to_hdf5
from mce_data.synthetic_nuscenes import write_synthetic_nuscenes


def _rate(label: str, count: int, seconds: float) -> None:
    print(f"  {label:<34} {count / seconds:8.2f} samples/s  ({count} in {seconds:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dataroot")
    parser.add_argument("--version", default="v1.0-mini")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--source-size", type=int, nargs=2, default=(450, 800), metavar=("H", "W"))
    parser.add_argument("--image-size", type=int, nargs=2, default=(224, 400), metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    devkit = require("nuscenes.nuscenes")
    with tempfile.TemporaryDirectory() as scratch:
        if args.dataroot:
            dataroot, kind = Path(args.dataroot), f"{args.version} at {args.dataroot}"
        else:
            size = tuple(args.source_size)
            dataroot = write_synthetic_nuscenes(
                Path(scratch) / "nusc",
                n_scenes=max(1, args.samples // 2),
                samples_per_scene=2,
                image_size=(size[0], size[1]),
            )
            kind = f"synthetic tables, {size[0]}x{size[1]} images"
        start = time.perf_counter()
        nusc = devkit.NuScenes(version=args.version, dataroot=str(dataroot), verbose=False)
        print(f"nuScenes throughput on {kind}")
        print(f"  {'load tables (devkit)':<34} {time.perf_counter() - start:8.2f} s")
        config = BEVConfig(image_size=(args.image_size[0], args.image_size[1]))
        live = NuScenesBEVLive(nusc, config=config)
        live.tokens = live.tokens[: args.samples]
        start = time.perf_counter()
        for _ in range(args.repeats):
            for index in range(len(live)):
                live[index]
        _rate("live rasterisation (no cache)", args.repeats * len(live), time.perf_counter() - start)
        start = time.perf_counter()
        path = convert_to_hdf5(nusc, Path(scratch) / "bev.h5", live.tokens, config)
        print(f"  {'convert_to_hdf5 (one-off)':<34} {time.perf_counter() - start:8.2f} s")
        cached = NuScenesBEV(path)
        start = time.perf_counter()
        for _ in range(args.repeats):
            for index in range(len(cached)):
                cached[index]
        _rate("HDF5 cache", args.repeats * len(cached), time.perf_counter() - start)


if __name__ == "__main__":
    main()
