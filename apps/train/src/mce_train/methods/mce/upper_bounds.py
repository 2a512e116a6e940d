"""The unimodal upper bounds U of Eq. 6: one frozen single-modality model per modality.

Each modality's encoder and decoder ``f_dec^{m,pt}(f_enc^{m,pt}(x_m))`` are trained on the
training samples that have the modality (the same masks as the multi-modal run), selected on
validation, frozen, and scored once on every training sample: ``scores[n, m]`` is the per-sample
score (0/1 correct for classification) of modality ``m``'s model on sample ``n`` (0 where the
sample lacks ``m``). The scores never change during multi-modal training, so they are computed
once and cached, keyed by (benchmark, masks, seed, settings); later runs reuse the file.
"""

from __future__ import annotations

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
from mce_train.trainer import Schedule, fit


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

    The unimodal models train for half the multi-modal steps (one modality, one small network). The
    cache key holds everything that determines them: benchmark, data source (real and synthetic files
    share ids), mask file, seed, schedule, size, network shapes and app version.
    """
    bench, schedule = context.bench, context.schedule
    unimodal_schedule = replace(schedule, steps=max(1, schedule.steps // 2))
    shapes = {k: tuple(v.shape) for k, v in bench.build(context.size, context.splits).state_dict().items()}
    key = cache_key(
        {
            "bench": bench.name,
            "data": context.splits.source,
            "mask": context.mask_file.read_text(),
            "seed": context.seed,
            "schedule": unimodal_schedule,
            "size": context.size,
            "network": shapes,
            "version": __version__,
        }
    )
    return upper_bound_scores(
        lambda: bench.build(context.size, context.splits),
        context.train,
        lambda: context.loader(context.train),
        lambda net, m: unimodal_validation(net, m, context),
        unimodal_schedule,
        sample_ids=context.train.sample_ids(),
        task_loss=bench.task_loss,
        score=bench.score,
        collate=collate_incomplete,
        seed=context.seed,
        cache_file=context.cache / "unimodal" / f"{bench.name}-{key}.pt",
        device=context.device,
        progress=context.progress,
        distributed=context.distributed,
        resume=context.resume,
    )


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
