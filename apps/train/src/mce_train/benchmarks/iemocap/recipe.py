"""IEMOCAP's recipe: the paper's Table 1 schedule, MCE's loss weights, the default missing rates."""

from __future__ import annotations

from mce_train.trainer import Schedule

DEFAULT_RATES = (0.2, 0.8, 0.5)
"""The paper's setting a, (A, L, V) = (0.2, 0.5, 0.8), in the loader's column order (acoustic, visual, lexical)."""

LAMBDAS = (1.0, 2.0, 1.0)
"""MCE's (lambda_single, lambda_sub, lambda_aux) on IEMOCAP: the optimum of the paper's Fig. 4-6 sweeps."""


def schedule(size: str, n_train: int) -> Schedule:
    """``paper``: Table 1 (60 epochs, batch 128, Adam, lr 2e-4, step decay: halved every 20 epochs)."""
    if size == "quick":
        return Schedule(steps=40, batch_size=32, lr=1e-3, eval_every=20, checkpoint_every=20)
    epoch = max(1, n_train // 128)
    return Schedule(
        steps=60 * epoch,
        batch_size=128,
        lr=2e-4,
        decay_every=20 * epoch,
        decay_gamma=0.5,
        eval_every=epoch,
        checkpoint_every=epoch,
    )
