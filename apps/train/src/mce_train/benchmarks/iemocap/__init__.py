"""IEMOCAP: MMIN's acoustic/visual/lexical features, LSTM and TextCNN encoders, FC decoder with BN.

* :mod:`~mce_train.benchmarks.iemocap.data`: MMIN's feature layout (fold 1), else synthetic features in it;
* :mod:`~mce_train.benchmarks.iemocap.models`: the encoders and heads;
* :mod:`~mce_train.benchmarks.iemocap.recipe`: the schedule, the loss weights and the default rates.
"""

from __future__ import annotations

from mce_losses import classification_score
from mce_recon import CompletionTransformer
from mce_train.benchmarks.base import Benchmark, Splits, cross_entropy
from mce_train.benchmarks.iemocap import models as iemocap
from mce_train.benchmarks.iemocap.data import iemocap_splits
from mce_train.benchmarks.iemocap.recipe import DEFAULT_RATES, LAMBDAS, schedule
from mce_train.metrics import ClassificationMetric
from mce_train.network import MultiModalNet


def _iemocap_build(size: str, splits: Splits) -> MultiModalNet:
    dim, hidden = (32, 32) if size == "quick" else (128, 128)
    first = splits.train[0]
    dims = {name: int(first.inputs[name].shape[-1]) for name in iemocap.MODALITIES}
    return MultiModalNet(
        iemocap.MODALITIES,
        iemocap.encoders(dim, dims),
        iemocap.head(dim, hidden),
        iemocap.unimodal_heads(dim, hidden),
        CompletionTransformer(len(iemocap.MODALITIES), dim, depth=1, heads=4),
    )


IEMOCAP_BENCHMARK = Benchmark(
    name="iemocap",
    modalities=iemocap.MODALITIES,
    build=_iemocap_build,
    schedule=schedule,
    splits=iemocap_splits,
    task_loss=cross_entropy,
    score=classification_score,
    metric=lambda: ClassificationMetric(iemocap.N_CLASSES),
    selection="accuracy",
    default_rates=DEFAULT_RATES,
    lambdas=LAMBDAS,
)
