"""BraTS' recipe: the schedule of the paper's Table 1, PASSION's and mmFormer's weight decay, U's training.

The MCE official code has no BraTS part; PASSION's code (the closest, the same 219/50/100 split and masks)
agrees with Table 1 but for its epochs (300) and AMSGrad.

``python apps/train/run.py --show-recipe --benchmark brats`` prints it with every value's source;
``--config FILE.toml`` overrides any value (:mod:`mce_train.recipe`).
"""

from __future__ import annotations

from mce_train.recipe import From, Recipe

DEFAULT_RATES = (0.5, 0.2, 0.2, 0.8)
"""The paper's Table 4 setting a, (T1/T1c, Flair, T2) = (0.2, 0.5, 0.8), in the loader's order (flair, t1, t1ce, t2)."""

TABLE1 = "MCE paper, Table 1"

MCE = {"lambdas": From((1.0, 1.0, 1.0), "ours: unit weights (the MCE official code has no BraTS training script)")}
"""L_single, L_sub, L_aux weights."""


def recipe(size: str, n_train: int) -> Recipe:
    """``paper``: Table 1 (400 epochs at batch 1, AdamW, lr 2e-4 with poly decay, power 0.9); ``quick``: a CPU
    smoke run. Validation (15 subsets, sliding windows over whole volumes) is costly, so it runs every 25 epochs.
    """
    if size == "quick":  # one batch holds the whole small training split: each kept modality is in every batch
        batch = max(1, min(8, n_train))
        return Recipe.of(
            {
                "schedule": {
                    "steps": 8,
                    "batch_size": batch,
                    "lr": 2e-3,
                    "optimizer": "adamw",
                    "eval_every": 8,
                    "checkpoint_every": 4,
                },
                "model": {"channels": (4, 8, 16), "heads": 2, "completion_depth": 1},
                "unimodal": {"steps": 8, "eval_every": 8, "patience": 1},
                "mce": MCE,
            }
        )
    epoch = max(1, n_train)
    return Recipe.of(
        {
            "schedule": {
                "steps": From(400 * epoch, f"{TABLE1}: 400 epochs"),
                "batch_size": From(1, TABLE1),
                "optimizer": From("adamw", TABLE1),
                "lr": From(2e-4, TABLE1),
                "weight_decay": From(1e-4, "PASSION and mmFormer official code: weight_decay 1e-4 (no MCE BraTS code)"),
                "scheduler": From("poly", f"{TABLE1}: poly decay"),
                "poly_power": From(0.9, f"{TABLE1}: p = 0.9"),
                "eval_every": 25 * epoch,
                "checkpoint_every": epoch,
                "workers": From(4, "ours: at most; fewer on a small machine (mce_train.resources, --workers)"),
            },
            "model": {"channels": (8, 16, 32, 64, 128), "heads": 8, "completion_depth": 1},
            "unimodal": {"steps": 400 * epoch, "eval_every": 25 * epoch, "patience": 4},
            "mce": MCE,
        }
    )
