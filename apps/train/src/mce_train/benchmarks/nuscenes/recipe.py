"""nuScenes' recipe: the paper's Table 1 schedule, MCE's loss weights, the default missing rates."""

from __future__ import annotations

from mce_train.trainer import Schedule

DEFAULT_RATES = (0.2, 0.5, 0.8)
"""The paper's setting a (Table 2's): (C, L, R) missing rates."""

LAMBDAS = (1.0, 1.0, 1.0)
"""MCE's (lambda_single, lambda_sub, lambda_aux) on nuScenes."""


def schedule(size: str, n_train: int) -> Schedule:
    """``paper``: Table 1 (50k iterations, batch 1, AdamW, lr 3e-4, OneCycle as Simple-BEV runs it:
    :func:`mce_train.trainer.onecycle_lr`); ``quick``: a smoke run."""
    del n_train
    if size == "quick":
        return Schedule(steps=8, batch_size=16, lr=3e-3, optimizer="adamw", eval_every=4, checkpoint_every=4)
    return Schedule(
        steps=50_000,
        batch_size=1,
        lr=3e-4,
        optimizer="adamw",
        scheduler="onecycle",
        weight_decay=1e-7,
        eval_every=5_000,
        checkpoint_every=1_000,
        workers=4,
    )
