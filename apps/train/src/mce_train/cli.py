"""Command line of ``python apps/train/run.py``.

With no arguments: AudiovisionMNIST, the baseline and MCE, image/audio missing rates 0.2/0.8, one
seed, on the real FSDD + MNIST data (``$MCE_DATA_DIR``, else ``../shared/data``), or on synthetic
files in the same layout when the real data is absent (the run says so). It prints the per-subset
and mean accuracy table and writes ``results.json``, ``results.md``, the masks, CSV training logs
and checkpoints under ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from mce_data import DataFileError
from mce_train import __version__, benchmarks, report, resources
from mce_train.arguments import overrides, parse_args
from mce_train.distributed import setup
from mce_train.errors import ConfigurationError
from mce_train.experiment import Settings, resolve_recipe, run_seed
from mce_train.methods import get_method, method_table
from mce_train.paths import DATA_ENV, benchmark_data, checkout_root, default_out
from mce_train.recipe import read_config


def _show_recipe(bench: benchmarks.Benchmark, settings: Settings, data: Path, out: Path) -> int:
    """Print the recipe a run of ``settings`` would train with (its epochs sized on the real training split)."""
    splits = bench.splits(data, settings.cache or out.parent / "cache", settings.seeds[0], settings.size)
    recipe = resolve_recipe(bench, settings, len(splits.train))
    print(f"# {bench.name} ({settings.size} size), {len(splits.train)} training samples; data: {splits.source}")
    print(recipe.show())
    return 0


def _silent(*args: object, **kwargs: object) -> None:
    del args, kwargs


def _check(args: argparse.Namespace) -> tuple[benchmarks.Benchmark, tuple[str, ...], tuple[float, ...], Path]:
    """Every setting that can be checked without data: a clear error now rather than mid-run."""
    try:
        bench = benchmarks.get(args.benchmark)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    methods = tuple(m.strip() for m in args.methods.split(","))
    for name in methods:
        try:
            cls = get_method(name)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        if not cls.supports(bench.name):
            raise SystemExit(
                f"error: {name} runs on {sorted(cls.benchmarks)}; not on {bench.name} (see --list-methods)"
            )
    if len(set(methods)) != len(methods):
        raise SystemExit(f"error: --methods lists a method twice: {args.methods!r}")
    rates = args.rates or bench.default_rates
    if len(rates) != len(bench.modalities):
        raise SystemExit(
            f"error: {bench.name} has modalities {bench.modalities}: give {len(bench.modalities)} rates; got {rates}"
        )
    if args.protocol == "fig7":
        if bench.name != "avmnist" or args.rates is not None or args.audio_present is None:
            raise SystemExit(
                "error: --protocol fig7 is AVMNIST's: use --benchmark avmnist --audio-present F, no --rates"
            )
        rates = (0.0, round(1.0 - args.audio_present, 6))
    elif args.audio_present is not None:
        raise SystemExit("error: --audio-present goes with --protocol fig7")
    if sum(1 - r for r in rates) < 1 and args.all_missing == "swap" and args.masks is None:
        raise SystemExit(
            f"error: missing rates {rates} leave fewer present cells than samples (sum of 1 - rate < 1), so no swap "
            f"can give every sample a modality; use --all-missing exclude or redraw"
        )
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        raise SystemExit(f"error: --seeds must be distinct non-negative integers; got {list(args.seeds)}")
    for name in ("steps", "checkpoint_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be >= 1; got {value}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"error: --device {args.device}, but this machine has no CUDA device")
    if args.masks is not None and not args.masks.is_file():
        raise SystemExit(f"error: the mask file {args.masks} does not exist")
    configured = os.environ.get(DATA_ENV)
    if configured and not Path(configured).is_dir():
        raise SystemExit(f"error: ${DATA_ENV} is {configured}, which is not a directory")
    data = args.data or benchmark_data()
    if args.data is not None and not data.is_dir():
        raise SystemExit(f"error: the data directory {data} does not exist")
    return bench, methods, rates, data


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_methods:
        print(method_table(benchmarks.BENCHMARKS))
        return 0
    bench, methods, rates, data = _check(args)
    out: Path = args.out or default_out()
    try:
        file_values = read_config(args.config) if args.config is not None else {}
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    settings = Settings(
        rates=rates,
        methods=methods,
        seeds=args.seeds,
        size=args.size,
        config=file_values,
        config_file=args.config,
        overrides=overrides(args, methods),
        device=args.device,
        resume=args.resume,
        progress=not args.no_progress,
        amp=not args.no_amp,
        masks=args.masks,
        all_missing=args.all_missing,
        mask_style=args.mask_style or bench.mask_style,
        protocol=args.protocol,
        audio_present=args.audio_present,
        cache=args.cache,
    )
    try:  # unknown keys and bad values now, before any data is read (n_train only scales epochs to steps)
        recipe = resolve_recipe(bench, settings, n_train=1000)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if args.show_recipe:
        return _show_recipe(bench, settings, data, out)
    distributed, device = setup(args.device)
    cpu = resources.plan(
        recipe.section("schedule")["workers"],
        cpus=resources.available_cpus(),
        workers=args.workers,
        threads=args.threads or resources.environment_threads(),
    )
    flushed = resources.flush_denormals(not args.keep_denormals)  # before torch starts its threads
    torch.set_num_threads(cpu.threads)
    settings = replace(settings, workers=cpu.workers)
    say = print if distributed.main else _silent
    say(
        f"mce-train {__version__}: {bench.name}, methods {', '.join(methods)}, missing rates "
        f"{dict(zip(bench.modalities, rates, strict=True))}, seeds {list(args.seeds)}, on {device} ({cpu.describe()})"
        + (f", {distributed.world} processes" if distributed.world > 1 else "")
    )
    commit = report.git_commit(checkout_root())  # the code that runs, before a long run lets the checkout move
    per_seed = []
    for seed in args.seeds:
        try:
            result = run_seed(bench, settings, seed, data, out, distributed=distributed, device=device, say=say)
        except ConfigurationError as error:
            raise SystemExit(f"error: {error}") from None
        except DataFileError as error:  # a corrupt wav, h5, NIfTI or mask file: one line, as bad flags get
            if args.debug:
                raise
            print(f"error: {error} (--debug shows the traceback)", file=sys.stderr)
            return 2
        per_seed.append(result)
    config: dict[str, Any] = {"benchmark": bench.name, **settings.__dict__}
    config["flush_denormals"] = flushed
    config["recipe"] = per_seed[0]["recipe"]  # the same for every seed: the splits do not depend on it
    sections = config["recipe"]["sections"]
    config["lambdas"] = list(sections["mce"]["lambdas"]) if "mce" in sections else None  # single, sub, aux
    config["realised_missing_rates"] = [
        round(sum(r["realised_missing_rates"][m] for r in per_seed) / len(per_seed), 6)
        for m in range(len(bench.modalities))
    ]
    if not distributed.main:
        return 0
    markdown = report.write(out, config, per_seed, methods, bench.selection, commit)
    print(f"\nTest {bench.selection} (%) per modality subset, mean ± std [95% CI] over seeds:\n\n{markdown}\n")
    print(report.mask_line(bench.modalities, config, per_seed))
    print(f"results: {out / 'results.json'} and results.md; logs and checkpoints under {out / 'runs'}")
    return 0
