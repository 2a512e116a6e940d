"""AVMNIST's recipe: the schedule of the paper's Table 1, the network's sizes, MCE's loss weights, the U models.

``python apps/train/run.py --show-recipe --benchmark avmnist`` prints it with every value's source;
``--config FILE.toml`` overrides any value (:mod:`mce_train.recipe`).
"""

from __future__ import annotations

from mce_train.recipe import From, Recipe

DEFAULT_RATES = (0.2, 0.8)
"""Image and audio missing rates of the default run. Beyond the paper: its only AVMNIST result (Fig. 7) keeps
every image and gives audio to 10 %, ..., 100 % of the samples (``--protocol fig7``)."""

TABLE1 = "MCE paper, Table 1"


def recipe(size: str, n_train: int) -> Recipe:
    """``paper``: Table 1 (2.5k iterations, batch 128, Adam, lr 1e-3, step decay); ``quick``: a smoke run."""
    del n_train
    if size == "quick":
        return Recipe.of(
            {
                "schedule": {"steps": 40, "batch_size": 32, "lr": 1e-3, "eval_every": 20, "checkpoint_every": 20},
                "model": {"dim": 32, "hidden": 64, "dropout": 0.0, "completion_depth": 1, "completion_heads": 4},
                "unimodal": {"steps": 40, "eval_every": 20, "patience": 2},
            }
        )
    return Recipe.of(
        {
            "schedule": {
                "steps": From(2500, f"{TABLE1}: 2.5k iterations"),
                "batch_size": From(128, TABLE1),
                "optimizer": From("adam", TABLE1),
                "lr": From(1e-3, TABLE1),
                "scheduler": From("step", f"{TABLE1}: step decay"),
                "decay_every": 1000,
                "decay_gamma": 0.1,
                "eval_every": 250,
                "checkpoint_every": 250,
            },
            "model": {"dim": 64, "hidden": 128, "dropout": 0.0, "completion_depth": 1, "completion_heads": 4},
            "unimodal": {"steps": 2500, "eval_every": 100, "patience": 5},
        }
    )
