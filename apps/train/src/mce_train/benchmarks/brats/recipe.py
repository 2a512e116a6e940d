"""BraTS' recipe: the paper's Table 1 schedule, MCE's loss weights, the default missing rates."""

from __future__ import annotations

from mce_train.trainer import Schedule

DEFAULT_RATES = (0.5, 0.2, 0.2, 0.8)
"""The paper's Table 4 setting a, (T1/T1c, Flair, T2) = (0.2, 0.5, 0.8), in the loader's order (flair, t1, t1ce, t2)."""

LAMBDAS = (1.0, 1.0, 1.0)
"""MCE's (lambda_single, lambda_sub, lambda_aux) on BraTS."""


def schedule(size: str, n_train: int) -> Schedule:
    """``paper``: Table 1 (400 epochs at batch 1, AdamW, lr 2e-4 with poly decay, power 0.9); ``quick``: a CPU
    smoke run. Validation (15 subsets, sliding windows over whole volumes) is costly, so it runs every 25 epochs.
    """
    if size == "quick":  # one batch holds the whole small training split: each kept modality is in every batch
        batch = max(1, min(8, n_train))
        return Schedule(steps=8, batch_size=batch, lr=2e-3, optimizer="adamw", eval_every=8, checkpoint_every=4)
    epoch = max(1, n_train)
    return Schedule(
        steps=400 * epoch,
        batch_size=1,
        lr=2e-4,
        optimizer="adamw",
        weight_decay=1e-4,
        poly_power=0.9,
        eval_every=25 * epoch,
        checkpoint_every=epoch,
        workers=4,
    )
