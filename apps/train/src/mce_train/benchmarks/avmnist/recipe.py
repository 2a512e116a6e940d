"""AVMNIST's recipe: the paper's Table 1 schedule, MCE's loss weights, the default missing rates."""

from __future__ import annotations

from mce_train.trainer import Schedule

DEFAULT_RATES = (0.2, 0.8)
"""Image and audio missing rates of the default run. Beyond the paper: its only AVMNIST result (Fig. 7) keeps
every image and gives audio to 10 %, ..., 100 % of the samples (``--protocol fig7``)."""

LAMBDAS = (1.0, 1.0, 1.0)
"""MCE's (lambda_single, lambda_sub, lambda_aux) on AVMNIST."""


def schedule(size: str, n_train: int) -> Schedule:
    """``paper``: Table 1 (2.5k iterations, batch 128, Adam, lr 1e-3, step decay); ``quick``: a smoke run."""
    del n_train
    if size == "quick":
        return Schedule(steps=40, batch_size=32, lr=1e-3, eval_every=20, checkpoint_every=20)
    return Schedule(
        steps=2500, batch_size=128, lr=1e-3, decay_every=1000, decay_gamma=0.1, eval_every=250, checkpoint_every=250
    )
