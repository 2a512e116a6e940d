"""Time evaluating every modality subset against evaluating the full-modality subset alone (BraTS, nuScenes).

Evaluation encodes each input once and decodes every subset from it (:mod:`mce_train.evaluation`), so
all ``2^M - 1`` subsets should cost a small multiple of one subset: the target is all 15 BraTS subsets
within 3x the full-modality subset alone (predicting each subset on its own costs 15x). Both are timed
in one run, interleaved (one subset, all subsets, one subset, ...) so machine noise hits both alike;
medians over ``--repeats`` and their ratio are printed. ``--reference`` also times the per-subset path
(every subset predicted on its own, each window or sample encoded again).

BraTS: the paper-size network (8-128 channels, 80³ windows, 50 % overlap) on a random volume of
``--volume`` voxels (default 96³, the paper-size synthetic cases: 8 windows; real cases are
240×240×155: 75 windows). nuScenes: the paper-size network (128-channel 200×200 BEV maps, 6 cameras
of 112×200) on one random sample. Networks are randomly initialised (the cost does not depend on
the weights).

    python apps/train/perf/eval_subsets.py [--repeats 3] [--volume 96,96,96] [--device cuda] [--reference]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from mce_data import Batch
from mce_data.brats import MODALITIES as BRATS_MODALITIES
from mce_data.nuscenes_grid import BEVGrid
from mce_train.benchmarks.brats import sliding_window_each_subset, sliding_window_predictor
from mce_train.benchmarks.brats.models import PAPER, build_network
from mce_train.benchmarks.nuscenes import models as nuscenes
from mce_train.evaluation import Predictor, predict_each_subset, predict_subsets, subset_keeps
from mce_train.network import MultiModalNet
from mce_train.subsets import named_subsets

IMAGE = (112, 200)
TARGET = 3.0


def _brats(volume: tuple[int, int, int], device: torch.device) -> tuple[MultiModalNet, Batch]:
    torch.manual_seed(0)
    model = build_network(PAPER).to(device).eval()
    generator = torch.Generator().manual_seed(0)
    inputs = {name: torch.randn(1, 1, *volume, generator=generator) for name in BRATS_MODALITIES}
    present = torch.ones(1, len(BRATS_MODALITIES), dtype=torch.bool)
    return model, Batch(["case"], inputs, {}, present, torch.zeros(1, *volume, dtype=torch.long), {}).to(device)


def _nuscenes(device: torch.device) -> tuple[MultiModalNet, Batch]:
    grid = BEVGrid()
    torch.manual_seed(0)
    model = nuscenes.network(grid, 4, dim=128, hidden=128, image_channels=128, heads=8, completion_ffn=512)
    model = model.to(device).eval()
    generator = torch.Generator().manual_seed(0)
    pose = torch.eye(4).repeat(1, 6, 1, 1)
    for c in range(6):  # six cameras around the ego vehicle, looking outwards
        yaw = math.radians(60 * c)
        turn = torch.tensor([[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0], [0, 0, 1.0]])
        forward = torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # camera axes in the ego frame
        pose[0, c, :3, :3] = turn @ forward
        pose[0, c, :3, 3] = torch.tensor([0.0, 0.0, 1.5])
    height, width = IMAGE
    intrinsics = torch.tensor([[width / 2, 0, width / 2], [0, width / 2, height / 2], [0, 0, 1.0]]).repeat(1, 6, 1, 1)
    inputs = {
        "camera": torch.rand(1, 6, 3, height, width, generator=generator),
        "lidar": (torch.rand(1, grid.z_bins, *grid.shape, generator=generator) > 0.95).float(),
        "radar": torch.rand(1, 4, *grid.shape, generator=generator),
    }
    extras = {"intrinsics": intrinsics, "cam_to_ego": pose, "camera_present": torch.ones(1, 6, dtype=torch.bool)}
    present = torch.ones(1, 3, dtype=torch.bool)
    return model, Batch(["sample"], inputs, {}, present, torch.zeros(1, 1, *grid.shape), extras).to(device)


def _timer(device: torch.device) -> Callable[[Callable[[], Any]], float]:
    def timed(work: Callable[[], Any]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            work()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    return timed


def _compare(
    model: MultiModalNet, batch: Batch, fast: Predictor, slow: Predictor, args: argparse.Namespace
) -> dict[str, float]:
    """Median seconds of the full-modality subset alone, of every subset, and (``--reference``) of every subset
    predicted on its own."""
    masks = torch.stack([mask for _, mask in named_subsets(model.modalities)]).to(batch.present.device)
    every: Tensor = subset_keeps(batch.present, masks)
    full = every[-1:]  # the last subset keeps every modality
    timed = _timer(torch.device(args.device))
    cases: dict[str, Callable[[], Any]] = {
        "one subset": lambda: fast(model, batch, full),
        "all subsets": lambda: fast(model, batch, every),
    }
    if args.reference:
        cases["all subsets, each on its own"] = lambda: slow(model, batch, every)
    for work in cases.values():  # warm-up
        timed(work)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, work in cases.items():
            times[name].append(timed(work))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each case (medians are printed)")
    parser.add_argument("--volume", default="96,96,96", help="the BraTS volume's D,H,W (each a multiple of 16)")
    parser.add_argument("--reference", action="store_true", help="also time every subset predicted on its own")
    parser.add_argument("--benchmarks", default="brats,nuscenes", help="comma-separated: brats, nuscenes")
    args = parser.parse_args()
    device = torch.device(args.device)
    side = tuple(int(s) for s in args.volume.split(","))
    if len(side) != 3:
        parser.error(f"--volume takes D,H,W; got {args.volume!r}")
    volume = (side[0], side[1], side[2])
    rows = []
    for name in args.benchmarks.split(","):
        if name == "brats":
            model, batch = _brats(volume, device)
            medians = _compare(model, batch, sliding_window_predictor, sliding_window_each_subset, args)
            label = f"BraTS, {'x'.join(map(str, volume))} volume, 15 subsets"
        elif name == "nuscenes":
            model, batch = _nuscenes(device)
            medians = _compare(model, batch, predict_subsets, predict_each_subset, args)
            label = "nuScenes, 200x200 BEV, 7 subsets"
        else:
            parser.error(f"--benchmarks: unknown {name!r} (brats, nuscenes)")
        rows.append((name, label, medians))
    print(f"# Evaluation time, every subset vs the full subset alone, on {device} ({torch.get_num_threads()} threads)")
    print(f"# medians of {args.repeats} repeats\n")
    print("| benchmark | one subset | all subsets | ratio | each subset on its own | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for _, label, medians in rows:
        one, every = medians["one subset"], medians["all subsets"]
        alone = medians.get("all subsets, each on its own")
        tail = f"{alone:.2f} s | {alone / one:.2f}x" if alone is not None else "- | -"
        print(f"| {label} | {one:.2f} s | {every:.2f} s | {every / one:.2f}x | {tail} |")
    for name, _, medians in rows:
        if name == "brats":
            ratio = medians["all subsets"] / medians["one subset"]
            verdict = "met" if ratio <= TARGET else "NOT met"
            print(f"\nTarget: all 15 BraTS subsets <= {TARGET:.0f}x the full subset alone: {verdict} ({ratio:.2f}x).")


if __name__ == "__main__":
    main()
