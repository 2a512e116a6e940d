"""The unimodal upper bounds U of Eq. 6: one frozen single-modality model per modality.

Each modality's encoder and decoder ``f_dec^{m,pt}(f_enc^{m,pt}(x_m))`` are trained on the
training samples that have the modality (the same masks as the multi-modal run), selected on
validation, frozen, and scored once on every training sample: ``scores[n, m]`` is the per-sample
score (0/1 correct for classification) of modality ``m``'s model on sample ``n`` (0 where the
sample lacks ``m``). The scores never change during multi-modal training, so they are computed
once and cached, keyed by (benchmark, masks, seed, settings); later runs reuse the file.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from mce_data import collate_incomplete
from mce_train import __version__, checkpoint
from mce_train.caching import exclusive
from mce_train.distributed import SINGLE, Distributed
from mce_train.methods.base import Method, MethodContext, PerSample
from mce_train.network import MultiModalNet
from mce_train.schedule import Schedule
from mce_train.trainer import fit


class Unimodal(Method):
    """Trains modality ``m``'s encoder and unimodal head on the samples that have ``m``."""

    def __init__(self, m: int, task_loss: PerSample) -> None:
        self.m, self.task_loss = m, task_loss

    @property
    def label(self) -> str:
        return f"uni-{self.m}"

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        rows = batch.present[:, self.m]
        if not bool(rows.any()):  # no sample of this batch has the modality (likely at batch size 1): no update
            return torch.zeros((), device=rows.device, requires_grad=True), {"rows": 0.0}
        prediction = model.unimodal(model.encode_alone(batch, self.m)[rows], self.m)
        return self.task_loss(prediction, batch.target[rows]).mean(), {"rows": float(rows.sum())}


@torch.no_grad()
def unimodal_scores(
    model: MultiModalNet, m: int, batches: DataLoader[Any], score: PerSample, device: torch.device
) -> tuple[list[str], Tensor]:
    """Ids and ``Float[N]`` scores of modality ``m``'s head on every sample (0 where ``m`` is absent)."""
    model.eval()
    ids: list[str] = []
    scores: list[Tensor] = []
    for batch in batches:
        batch = batch.to(device)
        rows = batch.present[:, m]
        value = score(model.unimodal(model.encode_alone(batch, m), m), batch.target).double()
        scores.append(torch.where(rows, value, torch.zeros_like(value)).cpu())
        ids.extend(batch.ids)
    return ids, torch.cat(scores)


def cache_key(parts: dict[str, Any]) -> str:
    """A short, stable digest of the settings that determine the unimodal models."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def upper_bound_scores(
    build: Callable[[], MultiModalNet],
    train_set: Dataset[Any],
    ordered_loader: Callable[[], DataLoader[Any]],
    validate: Callable[[MultiModalNet, int], float],
    schedule: Schedule,
    *,
    sample_ids: Sequence[str],
    task_loss: PerSample,
    score: PerSample,
    collate: Callable[[list[Any]], Any],
    seed: int,
    cache_file: Path,
    device: torch.device,
    progress: bool = True,
    distributed: Distributed = SINGLE,
    resume: bool = False,
    patience: int | None = None,
) -> Tensor:
    """``Float[N_train, M]``: the frozen unimodal models' scores, rows in ``sample_ids`` order.

    Loads ``cache_file`` when it exists (and holds the same ids); otherwise trains one model per
    modality with :func:`~mce_train.trainer.fit` (resuming its checkpoint with ``resume``), scores the
    training set, and writes the file.
    """
    # Rank 0 holds the cache's lock (the other ranks wait at the barrier): of two runs that need the
    # same models at once, one trains them and the other then reads its file.
    with exclusive(cache_file.with_suffix(".lock")) if distributed.main else nullcontext():
        distributed.barrier()
        if cache_file.is_file():
            cached = checkpoint.load(cache_file)
            if list(cached["ids"]) == list(sample_ids):
                scores: Tensor = cached["scores"]
                return scores
        columns = []
        states = []
        for m in range(len(build().modalities)):
            torch.manual_seed(seed * 7919 + m)
            model = build()
            result = fit(
                model,
                Unimodal(m, task_loss),
                train_set,
                lambda net, m=m: validate(net, m),  # type: ignore[misc]
                schedule,
                collate=collate,
                seed=seed + m,
                run_dir=cache_file.parent / f"{cache_file.stem}-m{m}",
                device=device,
                progress=progress,
                distributed=distributed,
                resume=resume,
                fingerprint={"unimodal": m, "cache": cache_file.name},
                patience=patience,
            )
            model.load_state_dict(result.best_state)
            ids, column = unimodal_scores(model, m, ordered_loader(), score, device)
            order = {sample_id: row for row, sample_id in enumerate(ids)}
            columns.append(column[torch.tensor([order[i] for i in sample_ids])])
            states.append(result.best_state)
        scores = torch.stack(columns, 1)
        if distributed.main:
            checkpoint.save(cache_file, {"ids": list(sample_ids), "scores": scores, "states": states})
        distributed.barrier()
        return scores


def context_upper_bounds(context: MethodContext) -> Tensor:
    """``Float[N_train, M]``: U of Eq. 6 for one seed's training mask, cached under ``context.cache/unimodal``.

    Each unimodal model trains until its validation score has not improved for ``patience`` validations
    (at most ``steps`` steps; the recipe's ``unimodal`` section), and the best one is kept: Eq. 6 asks
    for "a standalone, pre-trained single-modal model", so it is trained to convergence rather than for
    a fixed share of the multi-modal schedule. The cache key holds everything that determines the
    models: benchmark, data source (real and synthetic files share ids), mask file, seed, schedule, the
    unimodal and model sections, network shapes and app version. Each model's validation curve is
    written to ``context.run_dir / "unimodal" / <modality>.csv``.
    """
    bench, unimodal = context.bench, context.recipe.section("unimodal")
    schedule = replace(
        context.schedule,
        steps=unimodal["steps"],
        eval_every=unimodal["eval_every"],
        checkpoint_every=unimodal["eval_every"],
    )
    shapes = {k: tuple(v.shape) for k, v in context.network().state_dict().items()}
    key = cache_key(
        {
            "bench": bench.name,
            "data": context.splits.source,
            "mask": context.mask_file.read_text(),
            "seed": context.seed,
            "schedule": schedule,
            "unimodal": unimodal,
            "model": context.recipe.section("model"),
            "size": context.size,
            "network": shapes,
            "version": __version__,
        }
    )
    cache_file = context.cache / "unimodal" / f"{bench.name}-{key}.pt"
    scores = upper_bound_scores(
        context.network,
        context.train,
        lambda: context.loader(context.train),
        lambda net, m: unimodal_validation(net, m, context),
        schedule,
        sample_ids=context.train.sample_ids(),
        task_loss=bench.task_loss,
        score=bench.score,
        collate=collate_incomplete,
        seed=context.seed,
        cache_file=cache_file,
        device=context.device,
        progress=context.progress,
        distributed=context.distributed,
        resume=context.resume,
        patience=unimodal["patience"],
    )
    if context.distributed.main:
        write_curves(cache_file, bench.modalities, context.run_dir / "unimodal")
    return scores


def write_curves(cache_file: Path, modalities: Sequence[str], folder: Path) -> None:
    """Copy each unimodal model's validation curve (``step,val_score``) from its training log to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for m, name in enumerate(modalities):
        log = cache_file.parent / f"{cache_file.stem}-m{m}" / "train_log.csv"
        if not log.is_file():
            continue
        with log.open() as source, (folder / f"{name}.csv").open("w", newline="") as target:
            writer = csv.writer(target)
            writer.writerow(["step", "val_score"])
            for row in csv.DictReader(source):
                if row.get("val_score"):
                    writer.writerow([row["step"], row["val_score"]])


@torch.no_grad()
def unimodal_validation(model: MultiModalNet, m: int, context: MethodContext) -> float:
    """Modality ``m``'s head alone on the validation split: the selection score of its unimodal model."""
    bench = context.bench
    model.eval()
    metric = bench.metric()
    for batch in context.loader(context.val):
        batch = batch.to(context.device)
        if bench.unimodal_predictor is not None:
            metric.update(bench.unimodal_predictor(model, batch, m), batch.target)
            continue
        metric.update(model.unimodal(model.encode_alone(batch, m), m), batch.target)
    model.train()
    return metric.compute()[bench.selection]
