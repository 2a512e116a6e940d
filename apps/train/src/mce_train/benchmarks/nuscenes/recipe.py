"""nuScenes' recipe: the schedule of the paper's Table 1, the network's sizes, MCE's loss weights, the U models.

``python apps/train/run.py --show-recipe --benchmark nuscenes`` prints it with every value's source;
``--config FILE.toml`` overrides any value (:mod:`mce_train.recipe`).
"""

from __future__ import annotations

from mce_train.recipe import From, Recipe

DEFAULT_RATES = (0.2, 0.5, 0.8)
"""The paper's setting a (Table 2's): (C, L, R) missing rates."""

TABLE1 = "MCE paper, Table 1"


def recipe(size: str, n_train: int) -> Recipe:
    """``paper``: Table 1 (50k iterations, batch 1, AdamW, lr 3e-4, OneCycle as Simple-BEV runs it:
    :func:`mce_train.trainer.onecycle_lr`); ``quick``: a smoke run."""
    del n_train
    if size == "quick":
        return Recipe.of(
            {
                "schedule": {
                    "steps": 8,
                    "batch_size": 16,
                    "lr": 3e-3,
                    "optimizer": "adamw",
                    "eval_every": 4,
                    "checkpoint_every": 4,
                },
                "model": {"dim": 8, "hidden": 8, "image_channels": 4, "completion_depth": 1, "completion_heads": 4},
                "unimodal": {"steps": 8, "eval_every": 4, "patience": 1},
            }
        )
    return Recipe.of(
        {
            "schedule": {
                "steps": From(50_000, f"{TABLE1}: 50k iterations"),
                "batch_size": From(1, TABLE1),
                "optimizer": From("adamw", TABLE1),
                "lr": From(3e-4, TABLE1),
                "scheduler": From("onecycle", f"{TABLE1}: OneCycle"),
                "weight_decay": 1e-7,
                "eval_every": 5_000,
                "checkpoint_every": 1_000,
                "workers": 4,
            },
            "model": {"dim": 64, "hidden": 64, "image_channels": 64, "completion_depth": 1, "completion_heads": 4},
            "unimodal": {"steps": 50_000, "eval_every": 5_000, "patience": 2},
        }
    )
