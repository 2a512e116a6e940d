"""Modality capability of frozen encoders (paper Fig. 9): a new decoder on each encoder's features.

"We evaluate the capability of encoders learned within different multi-modal frameworks by fixing
them and training a new decoder using only that modality's data." For every method and seed of a
finished run:

1. load the selected model (``best_state``) and freeze it (eval mode, no gradients);
2. for each modality ``m``, encode ``m`` alone for the training samples that have ``m`` under the
   run's mask (the only data of ``m`` the encoder saw), and for the complete validation and test
   splits;
3. train a freshly initialised decoder of the benchmark's unimodal head architecture (``f_dec^m``)
   on those training features with the run's optimiser settings, select it on validation, and
   report its test score (the benchmark's selection metric: accuracy for classification).

A better encoder gives a higher score: Fig. 9 compares these per modality across methods. The
features are computed once per split (the encoder is frozen), so the decoder trains on tensors.
"""

from __future__ import annotations

import copy
import csv
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mce_train import plotting
from mce_train.analysis import FinishedRun, loader, markdown_table
from mce_train.batches import StepBatches
from mce_train.metrics import Metric
from mce_train.network import MultiModalNet
from mce_train.schedule import Schedule
from mce_train.statistics import summarize

MIN_EPOCHS = 20
"""The least number of epochs a new decoder trains for by default."""


@dataclass(frozen=True)
class Features:
    """One modality's frozen-encoder features of one split: ``Float[N, *feature]`` and targets ``[N, ...]``."""

    features: Tensor
    target: Tensor


@dataclass(frozen=True)
class CapabilityRow:
    """One (method, seed, modality) result: the new decoder's validation and test score (%)."""

    method: str
    seed: int
    modality: str
    n_train: int
    val: float
    test: float


@torch.no_grad()
def encoder_features(model: MultiModalNet, m: int, dataset: Any, batch_size: int, device: torch.device) -> Features:
    """Modality ``m`` encoded alone for the samples of ``dataset`` that have it (others are skipped)."""
    model.eval()
    features, targets = [], []
    for batch in loader(dataset, batch_size):
        batch = batch.to(device)
        rows = batch.present[:, m]
        if not bool(rows.any()):
            continue
        features.append(model.encode_alone(batch, m)[rows, m].cpu())
        targets.append(batch.target[rows].cpu())
    if not features:
        raise ValueError(f"no sample of the split has modality {model.modalities[m]!r}: nothing to train or test on")
    return Features(torch.cat(features), torch.cat(targets))


@torch.no_grad()
def score(decoder: nn.Module, split: Features, metric: Callable[[], Metric], key: str, device: torch.device) -> float:
    """The decoder's ``key`` metric (%) on ``split``, in batches of 512."""
    decoder.eval()
    accumulated = metric()
    for start in range(0, len(split.features), 512):
        x = split.features[start : start + 512].to(device)
        accumulated.update(decoder(x), split.target[start : start + 512].to(device))
    decoder.train()
    return float(accumulated.compute()[key])


def train_decoder(
    decoder: nn.Module,
    train: Features,
    val: Features,
    *,
    task_loss: Callable[[Tensor, Tensor], Tensor],
    metric: Callable[[], Metric],
    key: str,
    steps: int,
    batch_size: int,
    lr: float,
    eval_every: int,
    seed: int,
    device: torch.device,
) -> nn.Module:
    """Train ``decoder`` on ``train`` with Adam for ``steps`` steps; return the best-on-``val`` weights.

    Validation runs every ``eval_every`` steps and at the end; ties keep the earlier weights.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    decoder.to(device).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    size = min(batch_size, len(train.features))
    best_score, best_state = float("-inf"), copy.deepcopy(decoder.state_dict())
    for step, rows in enumerate(StepBatches(len(train.features), size, steps=steps, seed=seed), start=1):
        index = torch.tensor(rows)
        loss = task_loss(decoder(train.features[index].to(device)), train.target[index].to(device)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if step % eval_every == 0 or step == steps:
            value = score(decoder, val, metric, key, device)
            if value > best_score:
                best_score, best_state = value, copy.deepcopy(decoder.state_dict())
    decoder.load_state_dict(best_state)
    return decoder


def default_steps(run_steps: int, n_train: int, schedule: Schedule) -> int:
    """Half the run's steps, and at least :data:`MIN_EPOCHS` epochs of the modality's training features.

    >>> default_steps(40, 205, Schedule(steps=40, batch_size=32, lr=1e-3))
    120
    """
    per_epoch = max(1, n_train // min(schedule.batch_size, n_train))
    return max(1, run_steps // 2, MIN_EPOCHS * per_epoch)


def capability(
    run: FinishedRun,
    data: Path,
    device: torch.device,
    *,
    steps: int | None = None,
    methods: Sequence[str] | None = None,
) -> list[CapabilityRow]:
    """Fig. 9 for every method and seed of ``run``: one row per (method, seed, modality).

    Args:
        run: the finished run.
        data: the data folder the run used (synthetic files are found in the run's cache as before).
        device: where encoders and decoders run.
        steps: decoder training steps (default :func:`default_steps`: the decoder trains on cached
            features, so a few epochs cost little, and a short quick run would leave it untrained).
        methods: the methods to analyse (default: all of the run's).
    """
    bench = run.bench
    rows: list[CapabilityRow] = []
    for seed in run.seeds:
        split = run.data(seed, data)
        for method in methods or run.methods:
            schedule = run.schedule(method, seed)
            model = run.model(method, seed, split, device)
            for p in model.parameters():
                p.requires_grad_(False)
            for m, name in enumerate(bench.modalities):
                train, val, test = (
                    encoder_features(model, m, dataset, schedule.batch_size, device)
                    for dataset in (split.train, split.val, split.test)
                )
                n_steps = steps if steps is not None else default_steps(schedule.steps, len(train.features), schedule)
                torch.manual_seed(seed * 7919 + m)  # the same fresh decoder for every method
                decoder = bench.build(run.recipe.section("model"), split.splits).unimodal_heads[name]
                train_decoder(
                    decoder,
                    train,
                    val,
                    task_loss=bench.task_loss,
                    metric=bench.metric,
                    key=bench.selection,
                    steps=n_steps,
                    batch_size=schedule.batch_size,
                    lr=schedule.lr,
                    eval_every=max(1, min(schedule.eval_every, n_steps // 4 or 1)),
                    seed=seed,
                    device=device,
                )
                val_score = score(decoder, val, bench.metric, bench.selection, device)
                test_score = score(decoder, test, bench.metric, bench.selection, device)
                rows.append(CapabilityRow(method, seed, name, len(train.features), val_score, test_score))
    return rows


def table(rows: Sequence[CapabilityRow], metric: str) -> str:
    """Markdown: one row per method, one column per modality, test ``metric`` mean ± std [95% CI] over seeds."""
    methods = list(dict.fromkeys(r.method for r in rows))
    modalities = list(dict.fromkeys(r.modality for r in rows))
    cells = [
        [method]
        + [str(summarize([r.test for r in rows if r.method == method and r.modality == name])) for name in modalities]
        for method in methods
    ]
    return markdown_table(["method", *(f"{name} test {metric} (%)" for name in modalities)], cells)


def write_csv(rows: Sequence[CapabilityRow], path: Path) -> Path:
    """One CSV line per (method, seed, modality)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(CapabilityRow.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    return path


def plot(rows: Sequence[CapabilityRow], path: Path, metric: str, title: str) -> Path:
    """Fig. 9 as grouped bars: modalities on x, one bar per method (mean over seeds, std as error bar)."""
    methods = list(dict.fromkeys(r.method for r in rows))
    modalities = list(dict.fromkeys(r.modality for r in rows))
    width = 0.8 / max(1, len(methods))
    figure, axes = plotting.subplots(figsize=(1.8 + 1.6 * len(modalities), 3.6))
    for k, method in enumerate(methods):
        stats = [summarize([r.test for r in rows if r.method == method and r.modality == n]) for n in modalities]
        x = [i + (k - (len(methods) - 1) / 2) * width for i in range(len(modalities))]
        axes.bar(x, [s.mean for s in stats], width, yerr=[s.std for s in stats], label=method, capsize=3)
    axes.set_xticks(range(len(modalities)), modalities)
    axes.set_ylabel(f"test {metric} (%) of a new decoder")
    axes.set_ylim(0, 100)
    axes.set_title(title)
    axes.legend()
    return plotting.save(figure, path)
