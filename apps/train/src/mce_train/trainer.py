"""The training loop shared by every method: steps, validation-based selection, checkpoints, resume.

What the loop guarantees:

* the same seed gives the same numbers (data order from :class:`~mce_train.batches.StepBatches`,
  model initialisation and dropout from the seeded global generator, saved in checkpoints);
* a run killed at any point resumes from its last checkpoint with ``resume=True`` and reaches the
  same final numbers as an uninterrupted run;
* the model kept is the one with the best validation score (mean of the selection metric over all
  modality subsets), never chosen on test.
"""

from __future__ import annotations

import copy
import csv
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from mce_train import checkpoint
from mce_train.batches import StepBatches
from mce_train.distributed import SINGLE, Distributed
from mce_train.errors import ConfigurationError
from mce_train.network import MultiModalNet
from mce_train.schedule import Schedule, lr_at, make_optimizer, steps_per_epoch

if TYPE_CHECKING:
    from mce_train.methods.base import Method


@dataclass
class FitResult:
    """The selected model's weights, its validation score and the step it was taken at."""

    best_state: dict[str, Tensor]
    best_score: float
    best_step: int
    log_path: Path


def fit(
    model: MultiModalNet,
    method: Method,
    train_set: Dataset[Any],
    validate: Callable[[MultiModalNet], float],
    schedule: Schedule,
    *,
    collate: Callable[[list[Any]], Any],
    seed: int,
    run_dir: Path,
    device: torch.device,
    resume: bool = False,
    progress: bool = True,
    distributed: Distributed = SINGLE,
    amp: bool = False,
    fingerprint: dict[str, Any] | None = None,
    patience: int | None = None,
) -> FitResult:
    """Train ``model`` with ``method`` for ``schedule.steps`` steps; return the best validation model.

    ``validate(model)`` scores the model on the validation split (higher is better); it runs every
    ``eval_every`` steps and at the end, and the best-scoring weights are kept.

    ``run_dir`` receives ``checkpoint.pt`` (every ``checkpoint_every`` steps and at the end) and
    ``train_log.csv`` (one row per logged step). With ``resume`` the run continues from the
    checkpoint, truncating log rows written after it.

    ``fingerprint`` (the settings that make the run what it is) is saved in the checkpoint; resuming
    from a checkpoint made with other settings is a :class:`~mce_train.errors.ConfigurationError`.

    Under torchrun (``distributed.world > 1``) each rank trains on its slice of every global batch,
    gradients are averaged over ranks, and only rank 0 writes files. ``amp`` runs the loss in
    bfloat16 autocast on CUDA (ignored on the CPU).

    ``patience``: stop early once ``patience`` validations in a row have not beaten the best score (the
    unimodal models behind U train to convergence this way); ``None`` trains every step.
    """
    model.to(device)
    if distributed.world > 1 and device.type == "cuda":
        torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]  # nested: in place
    optimizer = make_optimizer(model, schedule)
    ckpt_path, log_path = run_dir / "checkpoint.pt", run_dir / "train_log.csv"
    start, best_score, best_step = 0, float("-inf"), -1
    best_state = copy.deepcopy(model.state_dict())
    if resume and ckpt_path.is_file():
        state = checkpoint.load(ckpt_path)
        if state.get("fingerprint") != fingerprint or _essential(state.get("schedule")) != _essential(asdict(schedule)):
            raise ConfigurationError(
                f"cannot resume from {ckpt_path}: it was made with other settings "
                f"({state.get('fingerprint')}, {state.get('schedule')}; now {fingerprint}, {asdict(schedule)}); "
                "use another --out, or drop --resume to start over"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        method.load_state_dict(state["method"])
        best_state, best_score, best_step = state["best_state"], state["best_score"], state["best_step"]
        start = state["step"]
        checkpoint.set_rng_state(state["rng"])
        _truncate_log(log_path, start)
    elif log_path.exists() and distributed.main:
        log_path.unlink()
    distributed.barrier()
    if distributed.main:
        run_dir.mkdir(parents=True, exist_ok=True)
    if patience is not None and best_step >= 0 and start - best_step >= patience * schedule.eval_every:
        return FitResult(best_state, best_score, best_step, log_path)  # a resumed run that had converged

    sampler = StepBatches(
        len(train_set),  # type: ignore[arg-type]
        schedule.batch_size,
        steps=schedule.steps,
        seed=seed,
        start=start,
        rank=distributed.rank,
        world=distributed.world,
    )
    # The loader's own generator: creating its iterator must not consume the global generator, whose
    # state a resumed run restores (dropout and friends must draw the same numbers as without the kill).
    loader = DataLoader(
        train_set,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=schedule.workers,
        generator=torch.Generator().manual_seed(seed),
    )
    # tqdm draws on a terminal only (disable=None), and never with progress off or on ranks > 0.
    bar = tqdm(
        total=schedule.steps,
        initial=start,
        desc=f"{method.label:>8}",
        disable=None if progress and distributed.main else True,
        dynamic_ncols=True,
    )
    per_epoch = steps_per_epoch(len(train_set), schedule.batch_size)  # type: ignore[arg-type]
    autocast = amp and device.type == "cuda"

    def save(step: int) -> None:
        if not distributed.main:
            return
        checkpoint.save(
            ckpt_path,
            {
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "method": method.state_dict(),
                "best_state": best_state,
                "best_score": best_score,
                "best_step": best_step,
                "rng": checkpoint.rng_state(),
                "schedule": asdict(schedule),
                "fingerprint": fingerprint,
            },
        )

    step = start
    for batch in loader:
        model.train()
        if step % per_epoch == 0:
            method.on_epoch_start(model, step // per_epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(schedule, step)
        batch = batch.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss, logs = method.loss(model, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the {method.label} loss became {loss.item()} at step {step}; logs: {logs}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        distributed.average_gradients(model)
        method.after_backward(model)
        if schedule.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), schedule.clip_norm)
        optimizer.step()
        step += 1
        row: dict[str, float] = {"step": step, "loss": float(loss.detach()), **logs}
        if step % schedule.eval_every == 0 or step == schedule.steps:
            score = validate(model)
            row["val_score"] = score
            if score > best_score:
                best_score, best_step = score, step
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if distributed.main:
            _append_log(log_path, row)
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.3f}", refresh=False)
        converged = patience is not None and "val_score" in row and step - best_step >= patience * schedule.eval_every
        if step % schedule.checkpoint_every == 0 or step == schedule.steps or converged:
            save(step)
        if converged:
            break
    bar.close()
    return FitResult(best_state, best_score, best_step, log_path)


def _essential(schedule: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schedule without what a resumed run may change (how often it checkpoints, its loader workers)."""
    if schedule is None:
        return None
    return {k: v for k, v in schedule.items() if k not in ("checkpoint_every", "workers")}


def _append_log(path: Path, row: dict[str, float]) -> None:
    fields = list(row)
    new = not path.exists()
    if not new:
        with path.open() as f:
            header = next(csv.reader(f), [])
        fields = header + [k for k in row if k not in header]
        if fields != header:  # a new column appeared: rewrite the file with the wider header
            rows = list(csv.DictReader(path.open()))
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow(row)


def _truncate_log(path: Path, step: int) -> None:
    if not path.exists():
        return
    with path.open() as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        rows = [r for r in reader if int(float(r["step"])) <= step]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
