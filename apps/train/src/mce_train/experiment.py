"""One experiment: a benchmark at one missing-rate setting, several methods, several seeds.

For each seed the training mask is drawn once (keyed by sample id, saved as CSV next to the results)
and every method sees the same mask, splits and evaluation. Each method trains, is selected on the
complete validation split, and is evaluated on the complete test split under every non-empty
modality subset. Nothing here names a method: each comes from the registry
(:mod:`mce_train.methods`) and brings its own loss, network and hooks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mce_data import IncompleteDataset, MissingMask, collate_incomplete
from mce_train.benchmarks.base import Benchmark
from mce_train.distributed import SINGLE, Distributed
from mce_train.errors import ConfigurationError
from mce_train.evaluation import evaluate
from mce_train.methods import METHODS, MethodContext, get_method
from mce_train.network import MultiModalNet
from mce_train.recipe import Recipe, Sections
from mce_train.schedule import Schedule
from mce_train.trainer import fit
from mce_train.training_masks import mask_record, training_mask


@dataclass(frozen=True)
class Settings:
    """What to run; every field has the default run's value."""

    rates: tuple[float, ...]
    methods: tuple[str, ...] = ("baseline", "mce")
    seeds: tuple[int, ...] = (0,)
    size: str = "paper"
    config: Sections = field(default_factory=dict)
    """Recipe values from a ``--config`` TOML file, ``{section: {key: value}}``."""
    config_file: Path | None = None
    overrides: Sections = field(default_factory=dict)
    """Recipe values given on the command line (``--steps``, a method's options, ...); they beat ``config``."""
    device: str = "cpu"
    resume: bool = False
    progress: bool = True
    amp: bool = True
    cache: Path | None = None
    """Where synthetic files, MFCCs and unimodal models are cached (default: ``cache`` beside ``out``)."""
    masks: Path | None = None
    """A training-mask CSV to use (for every seed) instead of drawing one; it must match the dataset."""
    all_missing: str = "exclude"
    """A drawn sample with no modality: ``"exclude"`` leaves it out of training (the paper's rule, Sec. 3.1),
    ``"swap"`` gives it a present cell of another sample (per-modality counts exact), ``"redraw"`` draws its row
    again until it is not empty (PASSION's practice); :mod:`mce_data.mask_modes`."""
    mask_style: str = "counts"
    """How masks are drawn from the rates: ``"counts"``, ``"bernoulli"`` or ``"combinations"`` (the command line
    gives the benchmark's own, :attr:`Benchmark.mask_style`)."""
    protocol: str = "rates"
    """``"rates"`` (masks drawn from ``rates``) or a benchmark's own protocol (AVMNIST ``"fig7"``)."""
    audio_present: float | None = None
    """With ``protocol="fig7"``: the fraction of training samples that have audio (every image is present)."""
    workers: int | None = None
    """DataLoader workers of the training loader instead of the recipe's ``schedule.workers`` (the command line sizes
    them to the machine, :mod:`mce_train.resources`); not part of a checkpoint's fingerprint."""


def resolve_recipe(bench: Benchmark, settings: Settings, n_train: int) -> Recipe:
    """The benchmark's recipe for ``n_train`` training samples with a section per method of ``settings``
    (its declared option defaults, then the benchmark's values for them), then ``settings.config``, then
    ``settings.overrides``. Raises ``ValueError`` for an unknown section or key, or a bad option value."""
    recipe = bench.recipe(settings.size, n_train)
    sections = {name: dict(values) for name, values in recipe.sections.items() if name not in METHODS}
    sources = dict(recipe.sources)
    schedule = sections.setdefault("schedule", {})
    for entry in fields(Schedule):  # every optimisation setting, so that --config may set any of them
        if entry.name not in schedule:
            schedule[entry.name] = entry.default
            sources[f"schedule.{entry.name}"] = "ours (the trainer's default)"
    for name in settings.methods:
        declared = {option.dest: option for option in get_method(name).options}
        given = recipe.section(name)
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise ValueError(f"the {bench.name} recipe sets {unknown} for {name}, which has options {sorted(declared)}")
        sections[name] = {dest: given.get(dest, option.default) for dest, option in declared.items()}
        sources.update({f"{name}.{dest}": option.source for dest, option in declared.items() if dest not in given})
    resolved = Recipe(sections, sources)
    if settings.config:
        where = f"--config {settings.config_file}" if settings.config_file else "--config"
        resolved = resolved.override(settings.config, where)
    resolved = resolved.override(settings.overrides, "command line")
    for name in settings.methods:
        cls, options = get_method(name), resolved.section(name)
        for option in cls.options:
            if option.choices is not None and options[option.dest] not in option.choices:
                raise ValueError(
                    f"{name}.{option.dest} must be one of {list(option.choices)}; got {options[option.dest]!r}"
                )
        cls.check(options)
    return resolved


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
    try:
        recipe = resolve_recipe(bench, settings, len(splits.train))
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    schedule = Schedule(**recipe.section("schedule"))
    if settings.workers is not None:
        schedule = replace(schedule, workers=settings.workers)
    mask, mask_file = training_mask(bench, settings, splits, seed, out, distributed)
    train = IncompleteDataset(splits.train, mask)
    val = IncompleteDataset(splits.val, MissingMask.full(splits.val.sample_ids(), bench.modalities))
    test = IncompleteDataset(splits.test, MissingMask.full(splits.test.sample_ids(), bench.modalities))
    loader = ordered_loader(schedule.batch_size)

    def validate(model: MultiModalNet) -> float:
        scores = evaluate(model, loader(val), bench.metric, device, bench.predictor)
        return sum(s[bench.selection] for s in scores.values()) / len(scores)

    results: dict[str, Any] = {
        "mask_file": str(mask_file),
        **mask_record(mask),
        "data": splits.source,
        "recipe": recipe.as_dict(),
        "methods": {},
    }
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
            recipe=recipe,
            schedule=schedule,
            options=recipe.section(name),
            loader=loader,
            cache=cache,
            run_dir=out / "runs" / f"{name}-seed{seed}",
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
            run_dir=context.run_dir,
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
        results["methods"][name] = {
            "test": scores,
            "best_step": fitted.best_step,
            "val_score": fitted.best_score,
            **method.summary(),
        }
    return results
