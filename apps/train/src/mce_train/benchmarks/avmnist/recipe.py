"""AVMNIST's recipe: the schedule of the paper's Table 1, the official code's regularisation and sizes, U's training.

``python apps/train/run.py --show-recipe --benchmark avmnist`` prints it with every value's source;
``--config FILE.toml`` overrides any value (:mod:`mce_train.recipe`).

Where the paper and the official code (byzhaoAI/MCE, ``digit_recog/``) disagree, the paper's Table 1 sets
the schedule (2.5k iterations at lr 1e-3; the code runs 4000 at 1e-4) and the code sets what the paper
leaves unsaid: weight decay 1e-4, dropout 0.5 in the decoders, the step decay's step (5000 iterations, so
it never fires within the run), the completion transformer (width 320, one block of 8 heads, FFN 1024,
dropout 0.1) and the unit loss weights.
"""

from __future__ import annotations

from mce_train.recipe import From, Recipe

DEFAULT_RATES = (0.2, 0.8)
"""Image and audio missing rates of the default run. Beyond the paper: its only AVMNIST result (Fig. 7) keeps
every image and gives audio to 10 %, ..., 100 % of the samples (``--protocol fig7``)."""

TABLE1 = "MCE paper, Table 1"
CODE = "MCE official code, digit_recog/train_mce.py"
MODEL_CODE = "MCE official code, digit_recog/models (soundlenet5_mce.py, modules.py, transformer.py)"

MCE = {"lambdas": From((1.0, 1.0, 1.0), f"{CODE}: --sep_weight 1 --sub_weight 1 --rec_weight 1")}
"""L_single, L_sub, L_aux weights (the code's sep, sub and rec weights)."""


def recipe(size: str, n_train: int) -> Recipe:
    """``paper``: Table 1 with the official code's regularisation; ``quick``: a smoke run (ours)."""
    del n_train
    if size == "quick":
        return Recipe.of(
            {
                "schedule": {"steps": 40, "batch_size": 32, "lr": 1e-3, "eval_every": 20, "checkpoint_every": 20},
                "model": {
                    "dim": 32,
                    "hidden": 32,
                    "dropout": 0.0,
                    "completion_depth": 1,
                    "completion_heads": 4,
                    "completion_ffn": 64,
                    "completion_dropout": 0.0,
                },
                "unimodal": {"steps": 40, "eval_every": 20, "patience": 2},
                "mce": MCE,
            }
        )
    return Recipe.of(
        {
            "schedule": {
                "steps": From(2500, f"{TABLE1}: 2.5k iterations (the code runs 4000)"),
                "batch_size": From(128, TABLE1),
                "optimizer": From("adam", TABLE1),
                "lr": From(1e-3, f"{TABLE1} (the code's default is 1e-4)"),
                "weight_decay": From(1e-4, CODE),
                "scheduler": From("step", f"{TABLE1}: step decay"),
                "decay_every": From(5000, f"{CODE}: StepLR(step_size=5000), which never fires in the run"),
                "decay_gamma": From(0.1, f"{CODE}: StepLR(gamma=0.1)"),
                "eval_every": From(50, f"{CODE}: evaluation every 50 iterations"),
                "checkpoint_every": 250,
            },
            "model": {
                "dim": From(320, f"{MODEL_CODE}: 320-d image (after the aligner) and audio features"),
                "hidden": From(64, f"{MODEL_CODE}: decoders 640/320 -> 64 -> 10"),
                "dropout": From(0.5, f"{MODEL_CODE}: Dropout(0.5) in every decoder"),
                "completion_depth": From(1, MODEL_CODE),
                "completion_heads": From(8, MODEL_CODE),
                "completion_ffn": From(1024, MODEL_CODE),
                "completion_dropout": From(0.1, MODEL_CODE),
            },
            "unimodal": {
                "steps": From(2500, "ours: as long as the multi-modal run, stopped early (the code ships checkpoints)"),
                "eval_every": 50,
                "patience": 5,
            },
            "mce": MCE,
        }
    )
