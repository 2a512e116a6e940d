"""One experiment: a benchmark at one missing-rate setting, several methods, several seeds.

For each seed the training masks are drawn once (keyed by sample id, saved as CSV next to the
results) and every method sees the same masks, splits and evaluation. Each method trains, is
selected on the complete validation split, and is evaluated on the complete test split under
every non-empty modality subset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mce_data import IncompleteDataset, MissingMask, collate_incomplete
from mce_data.sample import available_matrix
from mce_losses import ABLATION_ROWS, MCEObjective, factor_a
from mce_train import __version__
from mce_train.benchmark_base import Benchmark
from mce_train.distributed import SINGLE, Distributed
from mce_train.errors import ConfigurationError
from mce_train.evaluation import evaluate
from mce_train.methods import MCE, Baseline
from mce_train.network import MultiModalNet
from mce_train.trainer import Method, Schedule, fit
from mce_train.upper_bounds import cache_key, upper_bound_scores


@dataclass(frozen=True)
class Settings:
    """What to run; every field has the default run's value."""

    rates: tuple[float, ...]
    methods: tuple[str, ...] = ("baseline", "mce")
    seeds: tuple[int, ...] = (0,)
    ablation: str = "m"
    shapley: str = "exact"
    permutations: int = 200
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
    extra: dict[str, Any] = field(default_factory=dict)


def _loader(dataset: Any, batch_size: int) -> DataLoader[Any]:
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_incomplete)


def _method(
    name: str,
    bench: Benchmark,
    settings: Settings,
    mask: MissingMask,
    upper: torch.Tensor | None,
    seed: int,
    distributed: Distributed,
) -> Method:
    if name == "baseline":
        return Baseline(bench.task_loss)
    if name == "mce":
        switches = ABLATION_ROWS[settings.ablation]
        objective = MCEObjective(factor_a(mask.present) if switches.a else None, switches)
        assert upper is not None
        return MCE(
            objective,
            upper,
            mask.sample_ids,
            task_loss=bench.task_loss,
            score=bench.score,
            shapley=settings.shapley,
            permutations=settings.permutations,
            reduce=distributed.all_reduce_sum,
            seed=seed,
            world=distributed.world,
        )
    if name == "redcore":
        from mce_train.redcore import RedCore

        return RedCore(
            bench.task_loss,
            bench.modalities,
            n_train=len(mask.sample_ids),
            reduce=distributed.all_reduce_sum,
            seed=seed,
        )
    raise ValueError(f"unknown method {name!r}; expected 'baseline', 'mce' or 'redcore'")


def _training_mask(
    bench: Benchmark, settings: Settings, train: Any, seed: int, out: Path, distributed: Distributed
) -> tuple[MissingMask, Path]:
    """The seed's training mask: ``settings.masks`` if given (checked against the dataset), else the
    mask drawn once from the rates and saved under ``out/masks`` (rank 0 draws, the others read),
    among the modalities each sample's source has (a BraTS case without T1 never counts as T1-present)."""
    ids = list(train.sample_ids())
    available = available_matrix(train)
    if settings.masks is not None:
        try:
            return MissingMask.load_csv(settings.masks, expected_ids=ids, modalities=bench.modalities), settings.masks
        except (ValueError, FileNotFoundError) as error:
            raise ConfigurationError(f"--masks {settings.masks}: {error}") from error
    rates_tag = "-".join(f"{r:g}" for r in settings.rates)
    excluded = "-exclude" if settings.all_missing == "exclude" else ""
    mask_file = out / "masks" / f"{bench.name}-rates{rates_tag}{excluded}-seed{seed}.csv"

    def draw() -> MissingMask:
        return MissingMask.load_or_generate(
            mask_file,
            ids,
            bench.modalities,
            settings.rates,
            seed=seed,
            available=available,
            all_missing=settings.all_missing,
        )

    if distributed.main:
        draw()
    distributed.barrier()
    mask = draw()
    return mask, mask_file


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
        schedule = Schedule(**{**schedule.__dict__, "steps": settings.steps})
    if settings.checkpoint_every is not None:
        schedule = Schedule(**{**schedule.__dict__, "checkpoint_every": settings.checkpoint_every})
    mask, mask_file = _training_mask(bench, settings, splits.train, seed, out, distributed)
    train = IncompleteDataset(splits.train, mask)
    val = IncompleteDataset(splits.val, MissingMask.full(splits.val.sample_ids(), bench.modalities))
    test = IncompleteDataset(splits.test, MissingMask.full(splits.test.sample_ids(), bench.modalities))

    def validate(model: MultiModalNet) -> float:
        scores = evaluate(model, _loader(val, schedule.batch_size), bench.metric, device, bench.predictor)
        return sum(s[bench.selection] for s in scores.values()) / len(scores)

    upper = None
    if "mce" in settings.methods:
        # The unimodal models train for half the multi-modal steps: one modality, one small network.
        unimodal_schedule = Schedule(**{**schedule.__dict__, "steps": max(1, schedule.steps // 2)})
        shapes = {k: tuple(v.shape) for k, v in bench.build(settings.size, splits).state_dict().items()}
        key = cache_key(
            {
                "bench": bench.name,
                "data": splits.source,  # real and synthetic files share ids: the source tells them apart
                "mask": mask_file.read_text(),
                "seed": seed,
                "schedule": unimodal_schedule,
                "size": settings.size,
                "network": shapes,
                "version": __version__,
            }
        )
        upper = upper_bound_scores(
            lambda: bench.build(settings.size, splits),
            train,
            lambda: _loader(train, schedule.batch_size),
            lambda net, m: _unimodal_accuracy(net, m, _loader(val, schedule.batch_size), bench, device),
            unimodal_schedule,
            sample_ids=train.sample_ids(),
            task_loss=bench.task_loss,
            score=bench.score,
            collate=collate_incomplete,
            seed=seed,
            cache_file=cache / "unimodal" / f"{bench.name}-{key}.pt",
            device=device,
            progress=settings.progress,
            distributed=distributed,
            resume=settings.resume,
        )
    results: dict[str, Any] = {"mask_file": str(mask_file), "data": splits.source, "methods": {}}
    for name in settings.methods:
        torch.manual_seed(seed)
        if name == "redcore":
            from mce_train.redcore import build_redcore

            model: MultiModalNet = build_redcore(bench, settings.size, splits)
        else:
            model = bench.build(settings.size, splits)
        method = _method(name, bench, settings, mask, upper, seed, distributed)
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
                "ablation": settings.ablation if name == "mce" else None,
                "shapley": (settings.shapley, settings.permutations) if name == "mce" else None,
                "mask": hashlib.sha256(mask_file.read_bytes()).hexdigest(),
                "data": splits.source,
                "size": settings.size,
                "seed": seed,
            },
        )
        model.load_state_dict(fitted.best_state)
        scores = evaluate(model, _loader(test, schedule.batch_size), bench.metric, device, bench.predictor)
        results["methods"][name] = {"test": scores, "best_step": fitted.best_step, "val_score": fitted.best_score}
    return results


@torch.no_grad()
def _unimodal_accuracy(
    model: MultiModalNet, m: int, batches: DataLoader[Any], bench: Benchmark, device: torch.device
) -> float:
    model.eval()
    metric = bench.metric()
    for batch in batches:
        batch = batch.to(device)
        if bench.unimodal_predictor is not None:
            metric.update(bench.unimodal_predictor(model, batch, m), batch.target)
            continue
        metric.update(model.unimodal(model.encode_alone(batch, m), m), batch.target)
    model.train()
    return metric.compute()[bench.selection]
