"""One experiment: a benchmark at one missing-rate setting, several methods, several seeds.

For each seed the training mask is drawn once (keyed by sample id, saved as CSV next to the results)
and every method sees the same mask, splits and evaluation. Each method trains, is selected on the
complete validation split, and is evaluated on the complete test split under every non-empty
modality subset. Nothing here names a method: each comes from the registry
(:mod:`mce_train.methods`) and brings its own loss, network and hooks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mce_data import IncompleteDataset, MissingMask, collate_incomplete
from mce_train.benchmarks.base import Benchmark
from mce_train.distributed import SINGLE, Distributed
from mce_train.evaluation import evaluate
from mce_train.methods import MethodContext, get_method
from mce_train.network import MultiModalNet
from mce_train.trainer import Schedule, fit
from mce_train.training_masks import training_mask


@dataclass(frozen=True)
class Settings:
    """What to run; every field has the default run's value."""

    rates: tuple[float, ...]
    methods: tuple[str, ...] = ("baseline", "mce")
    seeds: tuple[int, ...] = (0,)
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per method name, its options by ``dest`` (:attr:`mce_train.methods.Method.options`)."""
    size: str = "paper"
    steps: int | None = None
    checkpoint_every: int | None = None
    device: str = "cpu"
    resume: bool = False
    progress: bool = True
    amp: bool = True
    cache: Path | None = None
    """Where synthetic files, MFCCs and unimodal models are cached (default: ``cache`` beside ``out``)."""
    masks: Path | None = None
    """A training-mask CSV to use (for every seed) instead of drawing one; it must match the dataset."""
    all_missing: str = "redraw"
    """A drawn sample with no modality: ``"redraw"`` gives it one (every sample kept, per-modality counts
    exact) or ``"exclude"`` leaves it out of training (Sec. 3.1; the counts hold over all samples)."""

    def options(self, method: str) -> dict[str, Any]:
        """``method``'s options: its declared defaults, overridden by what was given."""
        declared = {option.dest: option.default for option in get_method(method).options}
        return {**declared, **self.method_options.get(method, {})}


def ordered_loader(batch_size: int) -> Callable[[Any], DataLoader[Any]]:
    """A factory of unshuffled loaders at ``batch_size`` (validation, test, scoring the training set)."""

    def loader(dataset: Any) -> DataLoader[Any]:
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_incomplete)

    return loader


def run_seed(
    bench: Benchmark,
    settings: Settings,
    seed: int,
    data: Path,
    out: Path,
    *,
    distributed: Distributed = SINGLE,
    device: torch.device | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train and evaluate every method of ``settings`` for one seed; per-method, per-subset metrics.

    Under torchrun every rank calls this; rank 0 draws and saves the masks first, the others read them.
    """
    device = device or torch.device(settings.device)
    cache = settings.cache or out.parent / "cache"
    if not distributed.main:  # rank 0 writes any synthetic files and caches first
        distributed.barrier()
    splits = bench.splits(data, cache, seed, settings.size)
    if say is not None and seed == settings.seeds[0]:
        say(f"data: {splits.source}")
    if distributed.main:
        distributed.barrier()
    schedule: Schedule = bench.schedule(settings.size, len(splits.train))
    if settings.steps is not None:
        schedule = replace(schedule, steps=settings.steps)
    if settings.checkpoint_every is not None:
        schedule = replace(schedule, checkpoint_every=settings.checkpoint_every)
    mask, mask_file = training_mask(bench, settings, splits.train, seed, out, distributed)
    train = IncompleteDataset(splits.train, mask)
    val = IncompleteDataset(splits.val, MissingMask.full(splits.val.sample_ids(), bench.modalities))
    test = IncompleteDataset(splits.test, MissingMask.full(splits.test.sample_ids(), bench.modalities))
    loader = ordered_loader(schedule.batch_size)

    def validate(model: MultiModalNet) -> float:
        scores = evaluate(model, loader(val), bench.metric, device, bench.predictor)
        return sum(s[bench.selection] for s in scores.values()) / len(scores)

    results: dict[str, Any] = {"mask_file": str(mask_file), "data": splits.source, "methods": {}}
    for name in settings.methods:
        context = MethodContext(
            bench=bench,
            splits=splits,
            size=settings.size,
            seed=seed,
            mask=mask,
            mask_file=mask_file,
            train=train,
            val=val,
            schedule=schedule,
            options=settings.options(name),
            loader=loader,
            cache=cache,
            device=device,
            distributed=distributed,
            progress=settings.progress,
            resume=settings.resume,
        )
        method = get_method(name).create(context)
        method.prepare(context)
        torch.manual_seed(seed)
        model = method.build(context)
        fitted = fit(
            model,
            method,
            train,
            validate,
            schedule,
            collate=collate_incomplete,
            seed=seed,
            run_dir=out / "runs" / f"{name}-seed{seed}",
            device=device,
            resume=settings.resume,
            progress=settings.progress,
            distributed=distributed,
            amp=settings.amp,
            fingerprint={
                "benchmark": bench.name,
                "method": name,
                "options": method.fingerprint(),
                "mask": hashlib.sha256(mask_file.read_bytes()).hexdigest(),
                "data": splits.source,
                "size": settings.size,
                "seed": seed,
            },
        )
        model.load_state_dict(fitted.best_state)
        scores = evaluate(model, loader(test), bench.metric, device, bench.predictor)
        results["methods"][name] = {"test": scores, "best_step": fitted.best_step, "val_score": fitted.best_score}
    return results
