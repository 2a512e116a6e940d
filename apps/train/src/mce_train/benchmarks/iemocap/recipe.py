"""IEMOCAP's recipe: the schedule of the paper's Table 1, the network's sizes, MCE's loss weights, the U models.

``python apps/train/run.py --show-recipe --benchmark iemocap`` prints it with every value's source;
``--config FILE.toml`` overrides any value (:mod:`mce_train.recipe`).
"""

from __future__ import annotations

from mce_train.recipe import From, Recipe

DEFAULT_RATES = (0.2, 0.8, 0.5)
"""The paper's setting a, (A, L, V) = (0.2, 0.5, 0.8), in the loader's column order (acoustic, visual, lexical)."""

TABLE1 = "MCE paper, Table 1"


def recipe(size: str, n_train: int) -> Recipe:
    """``paper``: Table 1 (60 epochs, batch 128, Adam, lr 2e-4, step decay); ``quick``: a smoke run."""
    mce = {"lambdas": From((1.0, 2.0, 1.0), "MCE paper, Fig. 4-6: the optimum on IEMOCAP")}
    if size == "quick":
        return Recipe.of(
            {
                "schedule": {"steps": 40, "batch_size": 32, "lr": 1e-3, "eval_every": 20, "checkpoint_every": 20},
                "model": {"dim": 32, "hidden": 32, "dropout": 0.0, "completion_depth": 1, "completion_heads": 4},
                "unimodal": {"steps": 40, "eval_every": 20, "patience": 2},
                "mce": mce,
            }
        )
    epoch = max(1, n_train // 128)
    return Recipe.of(
        {
            "schedule": {
                "steps": From(60 * epoch, f"{TABLE1}: 60 epochs"),
                "batch_size": From(128, TABLE1),
                "optimizer": From("adam", TABLE1),
                "lr": From(2e-4, TABLE1),
                "scheduler": From("step", f"{TABLE1}: step decay"),
                "decay_every": 20 * epoch,
                "decay_gamma": 0.5,
                "eval_every": epoch,
                "checkpoint_every": epoch,
            },
            "model": {"dim": 128, "hidden": 128, "dropout": 0.0, "completion_depth": 1, "completion_heads": 4},
            "unimodal": {"steps": 60 * epoch, "eval_every": epoch, "patience": 5},
            "mce": mce,
        }
    )
