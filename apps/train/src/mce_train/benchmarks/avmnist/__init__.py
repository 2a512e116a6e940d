"""AudiovisionMNIST: FSDD audio + MNIST images (SMIL protocol), LeNet5 and an MFCC CNN.

* :mod:`~mce_train.benchmarks.avmnist.data`: the splits (real FSDD + MNIST, else synthetic files);
* :mod:`~mce_train.benchmarks.avmnist.models`: the encoders and heads;
* :mod:`~mce_train.benchmarks.avmnist.recipe`: the schedule, the loss weights and the default rates.
"""

from __future__ import annotations

from mce_losses import classification_score
from mce_recon import CompletionTransformer
from mce_train.benchmarks.avmnist import models as avmnist
from mce_train.benchmarks.avmnist.data import avmnist_splits
from mce_train.benchmarks.avmnist.recipe import DEFAULT_RATES, LAMBDAS, schedule
from mce_train.benchmarks.base import Benchmark, Splits, cross_entropy
from mce_train.metrics import ClassificationMetric
from mce_train.network import MultiModalNet


def _avmnist_build(size: str, splits: Splits) -> MultiModalNet:
    del splits
    dim, hidden = (32, 64) if size == "quick" else (64, 128)
    return MultiModalNet(
        avmnist.MODALITIES,
        avmnist.encoders(dim),
        avmnist.head(dim, hidden),
        avmnist.unimodal_heads(dim, hidden),
        CompletionTransformer(len(avmnist.MODALITIES), dim, depth=1, heads=4),
    )


AVMNIST_BENCHMARK = Benchmark(
    name="avmnist",
    modalities=avmnist.MODALITIES,
    build=_avmnist_build,
    schedule=schedule,
    splits=avmnist_splits,
    task_loss=cross_entropy,
    score=classification_score,
    metric=lambda: ClassificationMetric(avmnist.N_CLASSES),
    selection="accuracy",
    default_rates=DEFAULT_RATES,
    lambdas=LAMBDAS,
)
