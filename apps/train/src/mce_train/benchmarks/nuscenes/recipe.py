"""nuScenes' recipe: the paper's Table 1, the official code's clipping, accumulation and sizes, U's training.

The official code accumulates the gradients of 5 single-sample steps before each optimiser step, without
dividing the losses; a batch of 5 is the same update up to the scale (which Adam-type optimisers ignore)
since every norm in the network is per sample.

``python apps/train/run.py --show-recipe --benchmark nuscenes`` prints it with every value's source;
``--config FILE.toml`` overrides any value (:mod:`mce_train.recipe`).
"""

from __future__ import annotations

from mce_train.recipe import From, Recipe

DEFAULT_RATES = (0.2, 0.5, 0.8)
"""The paper's setting a (Table 2's): (C, L, R) missing rates."""

TABLE1 = "MCE paper, Table 1"
CODE = "MCE official code, scene_seg/train_nuscenes_mce_imml.py and train_imml_mce.sh"
MODEL_CODE = "MCE official code, scene_seg/imml_nets/segnet_imml.py"

MCE = {"lambdas": From((1.0, 1.0, 1.0), f"{CODE}: balanced_weights=[1., 1., 1.] (sep, rec, sub)")}
"""L_single, L_sub, L_aux weights (the code's sep, sub and rec weights)."""


def recipe(size: str, n_train: int) -> Recipe:
    """``paper``: Table 1 (50k iterations, batch 1, AdamW, lr 3e-4, OneCycle as Simple-BEV runs it:
    :func:`mce_train.schedule.onecycle_lr`); ``quick``: a smoke run."""
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
                "model": {
                    "dim": 8,
                    "hidden": 8,
                    "image_channels": 4,
                    "completion_depth": 1,
                    "completion_heads": 4,
                    "completion_ffn": 32,
                    "completion_dropout": 0.0,
                },
                "unimodal": {"steps": 8, "eval_every": 4, "patience": 1},
                "mce": MCE,
            }
        )
    return Recipe.of(
        {
            "schedule": {
                "steps": From(50_000, f"{TABLE1}: 50k iterations"),
                "batch_size": From(5, f"{TABLE1}: batch 1, with {CODE}'s 5-step gradient accumulation"),
                "optimizer": From("adamw", TABLE1),
                "lr": From(3e-4, TABLE1),
                "scheduler": From("onecycle", f"{TABLE1}: OneCycle"),
                "warmup_fraction": From(0.05, f"{CODE}: OneCycleLR(pct_start=0.05)"),
                "weight_decay": From(1e-7, f"{CODE}: AdamW(weight_decay=1e-7)"),
                "clip_norm": From(5.0, f"{CODE}: clip_grad_norm_(5.0)"),
                "eval_every": 5_000,
                "checkpoint_every": 1_000,
                "workers": From(4, "ours: at most; fewer on a small machine (mce_train.resources, --workers)"),
            },
            "model": {
                "dim": From(128, f"{MODEL_CODE}: 128-channel BEV maps"),
                "hidden": From(128, f"{MODEL_CODE}: bev_compressor to 128"),
                "image_channels": From(128, f"{MODEL_CODE}: image features to 128"),
                "completion_depth": From(1, MODEL_CODE),
                "completion_heads": From(8, MODEL_CODE),
                "completion_ffn": From(512, f"{MODEL_CODE}: Transformer(128, mlp_dim=512)"),
                "completion_dropout": From(0.1, MODEL_CODE),
            },
            "unimodal": {"steps": 50_000, "eval_every": 5_000, "patience": 2},
            "mce": MCE,
        }
    )
