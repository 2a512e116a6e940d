"""IEMOCAP's recipe: the paper's Table 1, the official code's schedule, regularisation and sizes, U's training.

``python apps/train/run.py --show-recipe --benchmark iemocap`` prints it with every value's source;
``--config FILE.toml`` overrides any value (:mod:`mce_train.recipe`).

The official code (byzhaoAI/MCE ``emotion_recog/``, built on MMIN) sets what Table 1 leaves open. Its
"step decay" is MMIN's linear policy: the rate is constant for 30 epochs, then decays linearly to zero over
30 more (``--niter=30 --niter_decay=30``, MMIN ``models/networks/tools.py``). The code also uses dropout 0.5
in every classifier and in the TextCNN, gradient clipping at 1.0, and Adam with betas (0.9, 0.999). Its
``--weight_decay=1e-5`` never reaches the optimiser, so the effective weight decay is 0, as here. The
completion transformer is 128 wide with an FFN of 2048. The decoders keep the batch norm that the
paper's Sec. 4.2 describes (the code's ``--bn`` is off).
"""

from __future__ import annotations

from mce_train.recipe import From, Recipe

DEFAULT_RATES = (0.2, 0.8, 0.5)
"""The paper's setting a, (A, L, V) = (0.2, 0.5, 0.8), in the loader's column order (acoustic, visual, lexical)."""

TABLE1 = "MCE paper, Table 1"
SCRIPT = "MCE official code, emotion_recog/IEMOCAP_MCE.sh"
MODEL_CODE = "MCE official code, emotion_recog/models/mce_model.py"


def recipe(size: str, n_train: int) -> Recipe:
    """``paper``: 60 epochs of Table 1 on the official code's schedule; ``quick``: a smoke run (ours)."""
    mce = {"lambdas": From((1.0, 2.0, 1.0), f"MCE paper, Fig. 4-6 optimum; {SCRIPT}: --sep 1 --sub 2 --rec 1")}
    if size == "quick":
        return Recipe.of(
            {
                "schedule": {"steps": 40, "batch_size": 32, "lr": 1e-3, "eval_every": 20, "checkpoint_every": 20},
                "model": {
                    "dim": 32,
                    "hidden": 32,
                    "dropout": 0.0,
                    "text_dropout": 0.0,
                    "completion_depth": 1,
                    "completion_heads": 4,
                    "completion_ffn": 64,
                    "completion_dropout": 0.0,
                },
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
                "betas": From((0.9, 0.999), f"{MODEL_CODE}: Adam betas (beta1 0.9)"),
                "weight_decay": From(0.0, f"{MODEL_CODE}: Adam without weight decay"),
                "scheduler": From("linear", f"{SCRIPT}: --niter=30 --niter_decay=30, MMIN's linear policy"),
                "decay_start": From(30 * epoch, f"{SCRIPT}: constant for 30 epochs"),
                "clip_norm": From(1.0, f"{MODEL_CODE}: clip_grad_norm_(1.0)"),
                "eval_every": From(epoch, f"{SCRIPT}: validation every epoch"),
                "checkpoint_every": epoch,
            },
            "model": {
                "dim": From(128, f"{SCRIPT}: 128-d embeddings"),
                "hidden": From(128, f"{SCRIPT}: --cls_layers=128,128"),
                "dropout": From(0.5, f"{SCRIPT}: --dropout_rate=0.5"),
                "text_dropout": From(0.5, "MMIN official code, models/networks/textcnn.py: Dropout(0.5)"),
                "completion_depth": From(1, f"{MODEL_CODE}: Transformer defaults"),
                "completion_heads": From(8, f"{MODEL_CODE}: Transformer defaults"),
                "completion_ffn": From(2048, f"{MODEL_CODE}: Transformer(128, mlp_dim=2048)"),
                "completion_dropout": From(0.1, f"{MODEL_CODE}: Transformer defaults"),
            },
            "unimodal": {
                "steps": From(60 * epoch, "ours: up to the multi-modal schedule, stopped early (the code ships them)"),
                "eval_every": epoch,
                "patience": 10,
            },
            "mce": mce,
        }
    )
