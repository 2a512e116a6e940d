"""AudiovisionMNIST: FSDD audio + MNIST images (SMIL protocol), LeNet5 and an MFCC CNN.

* :mod:`~mce_train.benchmarks.avmnist.data`: the splits (real FSDD + MNIST, else synthetic files);
* :mod:`~mce_train.benchmarks.avmnist.models`: the encoders and heads;
* :mod:`~mce_train.benchmarks.avmnist.recipe`: the schedule, the loss weights and the default rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mce_losses import classification_score
from mce_recon import CompletionTransformer
from mce_train.benchmarks.avmnist import models as avmnist
from mce_train.benchmarks.avmnist.data import avmnist_splits
from mce_train.benchmarks.avmnist.recipe import DEFAULT_RATES, recipe
from mce_train.benchmarks.base import Benchmark, Splits, cross_entropy
from mce_train.metrics import ClassificationMetric
from mce_train.network import MultiModalNet


def avmnist_build(model: Mapping[str, Any], splits: Splits) -> MultiModalNet:
    """The network of the recipe's ``model`` section: LeNet5 and the MFCC CNN, completion, FC decoders."""
    del splits
    dim, hidden, dropout = model["dim"], model["hidden"], model["dropout"]
    return MultiModalNet(
        avmnist.MODALITIES,
        avmnist.encoders(dim),
        avmnist.head(dim, hidden, dropout),
        avmnist.unimodal_heads(dim, hidden, dropout),
        CompletionTransformer(
            len(avmnist.MODALITIES),
            dim,
            depth=model["completion_depth"],
            heads=model["completion_heads"],
            ffn_dim=model["completion_ffn"],
            dropout=model["completion_dropout"],
        ),
    )


AVMNIST_BENCHMARK = Benchmark(
    name="avmnist",
    modalities=avmnist.MODALITIES,
    build=avmnist_build,
    recipe=recipe,
    splits=avmnist_splits,
    task_loss=cross_entropy,
    score=classification_score,
    metric=lambda: ClassificationMetric(avmnist.N_CLASSES),
    selection="accuracy",
    default_rates=DEFAULT_RATES,
    mask_style="counts",  # ours: the official AVMNIST masks are per class and speaker (--protocol fig7)
)
